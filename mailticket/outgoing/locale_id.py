"""Bahasa Indonesia for outgoing mail (pure): dates, durations, sizes and the labels of statuses,
events and categories, as the templates print them.

Written out here rather than taken from a system locale, which servers often lack: a date is
'Rabu, 25 November 2026 pukul 14.30 WIB' in the helpdesk's time zone, a duration '2 hari 3 jam',
a size '2,4 MB' (decimal comma).
"""

from __future__ import annotations

import re
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
                "breach": "melewati target", "status": "status diubah", "report": "laporan",
                "command-error": "perintah tidak dijalankan", "relay-skipped": "balasan tidak terkirim",
                "escalation-skipped": "eskalasi tidak terkirim", "third_party": "pesan pihak lain",
                "partner": "balasan mitra", "merged": "digabung", "forwarded": "diteruskan",
                "spam": "ditandai spam", "auth-failed": "email staf tidak lolos pemeriksaan"}
# purely technical events: the history that people read leaves them out
HIDDEN_EVENTS = frozenset({"classified", "ack-skipped"})
# details written for logs; people read these instead
EVENT_DETAILS = {"relay-skipped": "pelapor tidak punya alamat yang dapat dibalas",
                 "escalation-skipped": "belum ada koordinator di konfigurasi"}
# events whose detail is technical (how a mail was matched, a due time in ISO form): no detail shown
BARE_EVENTS = frozenset({"reply", "third_party", "warning", "breach", "created"})
_TRANSITION = re.compile(r"^(?P<old>[a-z_]+) -> (?P<new>[a-z_]+)(?:: (?P<rest>.*))?$", re.S)
_LINE = re.compile(r"\bline (\d+):")
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
    """'tiket dibuat' for created; an unknown event type in words ("auth-failed" -> "auth failed")."""
    return EVENT_LABELS.get(action) or action.replace("-", " ").replace("_", " ")


def event_detail(action: str, detail: str) -> str:
    """An event's detail as people read it: "new -> open" becomes "baru → diproses"."""
    if action in BARE_EVENTS:
        return ""
    if action in EVENT_DETAILS:
        return EVENT_DETAILS[action]
    if action == "command-error":
        return _LINE.sub(r"baris \1:", detail)
    match = _TRANSITION.match(detail)
    if match is None:
        return detail
    labels = category_text if action == "category" else status_label
    text = f"{labels(match['old'])} → {labels(match['new'])}"
    return f"{text}: {match['rest']}" if match["rest"] else text


def category_text(name: str) -> str:
    return category_label(name)[0]


def format_left(span: timedelta) -> str:
    """Time to a due time: 'sisa waktu 2 jam' ahead, 'terlambat 2 jam' past it."""
    if span < timedelta(0):
        return f"terlambat {format_duration(span)}"
    return f"sisa waktu {format_duration(span)}"


_COMPANY = re.compile(r"^(?:pt|p\.t\.|cv|c\.v\.|ud|u\.d\.|pd|koperasi|firma|fa|yayasan|tbk|persero)\b\.?\s*",
                      re.I)
_UPPER_WORDS = {"pt", "cv", "ud", "pd", "tbk", "fa", "lpse", "spse", "dinas", "ii", "iii", "iv"}


def salutation(name: str) -> str:
    """'Bapak/Ibu Budi Santoso' for "budi santoso", 'Bapak/Ibu di PT Maju Jaya' for a company,
    'Bapak/Ibu' for no name."""
    name = " ".join(name.split())
    if not name or "@" in name:
        return "Bapak/Ibu"
    if _COMPANY.match(name) or re.search(r"\b(?:pt|cv|tbk)\b\.?$", name, re.I):
        return f"Bapak/Ibu di {_title(name, companies=True)}"
    return f"Bapak/Ibu {_title(name)}"


def _title(name: str, companies: bool = False) -> str:
    """Capitalise words written all in lower or all in upper case; leave mixed case ("McDonald") alone."""
    words = []
    for word in name.split():
        bare = word.strip(".,").lower()
        if companies and bare.replace(".", "") in _UPPER_WORDS:
            words.append(word.upper().replace("P.T.", "PT").replace("C.V.", "CV") if len(bare) <= 4 else word)
        elif word.islower() or word.isupper():
            words.append(word[:1].upper() + word[1:].lower())
        else:
            words.append(word)
    return " ".join(words)


def category_label(name: str) -> tuple[str, str]:
    """(label, meaning) of a category; an unknown one capitalised, with no meaning."""
    return CATEGORY_LABELS.get(name, (name.capitalize(), ""))
