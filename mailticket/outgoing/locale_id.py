"""Bahasa Indonesia for outgoing mail (pure): dates, durations, sizes and the labels of statuses,
events and categories, as the templates print them.

Written out here rather than taken from a system locale, which servers often lack: a date is
'Rabu, 25 November 2026 pukul 14.30 WIB' in the helpdesk's time zone, a duration '2 hari 3 jam',
a size '2,4 MB' (decimal comma).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

from mailticket.enums import Category, Status

DAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
          "Oktober", "November", "Desember")
STATUS_LABELS = {Status.NEW: "baru", Status.OPEN: "diproses", Status.WAITING: "menunggu pelapor",
                 Status.ESCALATED: "dieskalasi", Status.CLOSED: "selesai"}
EVENT_LABELS = {"created": "tiket dibuat", "reply": "balasan pelapor", "staff_reply": "balasan petugas",
                "note": "catatan internal", "relay": "balasan diteruskan ke pelapor", "closed": "ditutup",
                "reopened": "dibuka kembali", "escalated": "dieskalasi", "assigned": "ditugaskan",
                "category": "kategori diubah", "waiting": "menunggu pelapor", "warning": "peringatan SLA",
                "breach": "melewati target"}
# category -> (label for people, one plain sentence on what it means)
CATEGORY_LABELS = {
    Category.GANGGUAN: ("Gangguan layanan",
                        "ada layanan yang terganggu atau tidak berjalan sebagaimana mestinya"),
    Category.PERMASALAHAN: ("Permasalahan", "masalah yang dapat menghambat layanan dalam waktu dekat, "
                                            "misalnya karena batas waktu tender"),
    Category.PERMINTAAN: ("Permintaan layanan", "permintaan terkait akun, password, persyaratan, "
                                                "atau cara penggunaan aplikasi"),
}


def format_datetime(moment: datetime, tz: tzinfo) -> str:
    """'Rabu, 25 November 2026 pukul 14.30 WIB'; ValueError for a naive datetime."""
    if moment.utcoffset() is None:
        raise ValueError("a naive datetime cannot be shown in local time")
    local = moment.astimezone(tz)
    return f"{format_date(local)} pukul {local:%H.%M} {zone_name(local)}"


def format_date(day: date) -> str:
    """'Rabu, 25 November 2026'."""
    return f"{DAYS[day.weekday()]}, {day.day} {MONTHS[day.month - 1]} {day.year}"


def zone_name(local: datetime) -> str:
    """WIB, WITA, WIT from the tz database; 'UTC+7' where it has only a number."""
    name = local.tzname() or ""
    if name and name[0] not in "+-" and not name.startswith(("UTC+", "UTC-")):
        return name
    offset = local.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    hours, rest = divmod(minutes, 60)
    return f"UTC{sign}{hours}" + (f".{rest:02d}" if rest else "")


def format_duration(span: timedelta) -> str:
    """'2 hari 3 jam', '45 menit', 'kurang dari 1 menit': the two largest units, rounded down."""
    seconds = abs(int(span.total_seconds()))
    parts = []
    for size, unit in ((86400, "hari"), (3600, "jam"), (60, "menit")):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts[:2]) if parts else "kurang dari 1 menit"


def format_size(size: int) -> str:
    """'850 B', '120 KB', '2,4 MB' (Indonesian decimal comma)."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size // 1024} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


def status_label(status: str) -> str:
    """'diproses' for open; an unknown status as it is."""
    return STATUS_LABELS.get(status, status)


def event_label(action: str) -> str:
    """'tiket dibuat' for created; any other text as it is."""
    return EVENT_LABELS.get(action, action)


def category_label(name: str) -> tuple[str, str]:
    """(label, meaning) of a category; an unknown one capitalised, with no meaning."""
    return CATEGORY_LABELS.get(name, (name.capitalize(), ""))
