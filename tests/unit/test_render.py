"""render.py: every template renders under StrictUndefined, subjects carry the token, user text stays data."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from jinja2 import UndefinedError

from mailticket.core.checklist import check
from mailticket.core.commands import TAGS
from mailticket.core.digest import DigestContext, DigestTicket, InboxHealth, build_digest
from mailticket.core.staff import Step
from mailticket.errors import ConfigError
from mailticket.outgoing import locale_id, render
from mailticket.outgoing.render import HistoryEntry, MessageEntry, Renderer, TicketView
from mailticket.types import Attachment, CommandError, Outgoing

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
WIB = ZoneInfo("Asia/Jakarta")
CREATED = datetime(2026, 11, 25, 14, 30, tzinfo=WIB)
EVIL = "{{ 7*7 }} {% if true %}jinja-ran{% endif %} <script>alert('x')</script> & co"
TARGETS = {"gangguan": timedelta(days=3), "permasalahan": timedelta(days=1), "permintaan": timedelta(hours=1)}


def ticket(**changes) -> TicketView:
    values = dict(token="LPSE#12", number=12, subject="Tidak bisa login SPSE", category="gangguan",
                  reporter="budi@example.co.id", status="open", created_at=CREATED,
                  due_at=CREATED + timedelta(days=3), assignee=None, reporter_name="Budi Santoso")
    values.update(changes)
    return TicketView(**values)


def make_renderer(path: Path = TEMPLATES, **changes) -> Renderer:
    values = dict(helpdesk_name="Helpdesk LPSE Provinsi Lampung", helpdesk_address="provlampunglpse@gmail.com",
                  tz=WIB, targets=TARGETS)
    values.update(changes)
    return Renderer(path, **values)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return make_renderer()


def all_kinds(r: Renderer, t: TicketView) -> dict[str, render.Rendered]:
    now = CREATED + timedelta(days=2)
    return {
        "ack": r.ack(ticket=t, topics=("registration",)),
        "notification": r.notification(ticket=t, body=t.subject, attachments=(
            Attachment("layar.png", "image/png", 123456),), needs_review=True),
        "relay": r.relay(ticket=t, body="Silakan coba lagi, Pak.", staff_name="Rina"),
        "closing": r.closing(ticket=t, body="Akun sudah aktif.", staff_name="Rina"),
        "error": r.error(ticket=t, errors=(CommandError(3, "#tutupp", "tag tidak dikenal"),)),
        "escalation": r.escalation(ticket=t, text="Mohon keputusan.", by="Rina", history=(
            HistoryEntry(CREATED, "budi@example.co.id", "created"),)),
        "warning": r.warning(ticket=t, now=now),
        "breach": r.breach(ticket=t, now=now + timedelta(days=2)),
    }


# --- every kind ------------------------------------------------------------------------------


def test_every_template_compiles(renderer):
    renderer.preload()
    names = set(renderer.env.list_templates())
    for kind in ("ack", "notification", "relay", "closing", "error", "escalation", "warning", "breach",
                 "digest"):
        assert f"{kind}.txt" in names
    assert {"ack.html", "digest.html"} <= names


def copy_templates(folder: Path) -> Path:
    folder.mkdir()
    for path in TEMPLATES.iterdir():
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def test_preload_names_file_and_line_of_a_broken_template(tmp_path):
    folder = copy_templates(tmp_path / "templates")
    (folder / "warning.txt").write_text("Tiket {{ ticket.tag }}\nSisa {{ remaining | durasi }\nSalam\n")
    with pytest.raises(ConfigError) as caught:
        make_renderer(folder).preload()
    assert caught.value.where == f"{folder / 'warning.txt'}:2"
    assert caught.value.what.startswith("template does not compile: ")
    assert "\n" not in str(caught.value)


def test_preload_names_a_missing_folder_or_template(tmp_path):
    with pytest.raises(ConfigError, match=r"^\S*/nowhere: templates folder not found$"):
        make_renderer(tmp_path / "nowhere").preload()
    folder = copy_templates(tmp_path / "templates")
    (folder / "closing.txt").unlink()
    with pytest.raises(ConfigError) as caught:
        make_renderer(folder).preload()
    assert (caught.value.where, caught.value.what) == (str(folder / "closing.txt"), "template not found")


@pytest.mark.parametrize("name", ["report.txt", "report.html", "survey_scale.txt", "reminder.txt", "autoclose.txt"])
def test_preload_names_a_missing_report_survey_or_auto_close_template(tmp_path, name):
    folder = copy_templates(tmp_path / "templates")
    (folder / name).unlink()
    with pytest.raises(ConfigError) as caught:
        make_renderer(folder).preload()
    assert (caught.value.where, caught.value.what) == (str(folder / name), "template not found")


@pytest.mark.parametrize("kind", ["ack", "notification", "relay", "closing", "error", "escalation",
                                  "warning", "breach"])
def test_each_kind_renders_with_token_first_then_subject(renderer, kind):
    out = all_kinds(renderer, ticket())[kind]
    assert out.kind == kind
    assert "[LPSE#12] Tidak bisa login SPSE" in out.subject
    assert out.subject.endswith("[LPSE#12] Tidak bisa login SPSE")
    assert "[LPSE#12]" in out.text
    assert "\n" not in out.subject and out.text.strip()


def test_reporter_facing_subjects_are_exactly_token_and_subject(renderer):
    kinds = all_kinds(renderer, ticket())
    for kind in ("ack", "relay", "closing"):
        assert kinds[kind].subject == "[LPSE#12] Tidak bisa login SPSE"
    # staff-facing since issue 14: the subject says what happened
    assert kinds["notification"].subject == "Tiket baru: [LPSE#12] Tidak bisa login SPSE"
    assert kinds["escalation"].subject == "Eskalasi: [LPSE#12] Tidak bisa login SPSE"


def test_subject_token_not_duplicated_and_one_line(renderer):
    t = ticket(subject="  [lpse # 12]  Tidak bisa\r\nlogin\tSPSE ")
    assert renderer.ack(ticket=t).subject == "[LPSE#12] Tidak bisa login SPSE"
    assert renderer.ack(ticket=ticket(subject="")).subject == "[LPSE#12] (tanpa subjek)"
    other = ticket(subject="[LPSE#3] lama")  # another ticket's token is part of the subject
    assert renderer.ack(ticket=other).subject == "[LPSE#12] [LPSE#3] lama"


def test_strict_undefined_is_on(tmp_path):
    (tmp_path / "relay.txt").write_text("{{ ticket.subject }} {{ not_given }}\n")
    with pytest.raises(UndefinedError):
        make_renderer(tmp_path).relay(ticket=ticket(), body="x")


def test_templates_are_loaded_once(monkeypatch):
    r = make_renderer()
    loads: list[str] = []
    original = r.env.loader.get_source

    def counting(env, name):
        loads.append(name)
        return original(env, name)

    monkeypatch.setattr(r.env.loader, "get_source", counting)
    for _ in range(3):
        r.ack(ticket=ticket())
    assert loads.count("ack.txt") == 1 and loads.count("ack.html") == 1


def test_from_settings_uses_name_zone_and_targets(tmp_path):
    from mailticket import config

    settings = config.build({"helpdesk": {"name": "Helpdesk Uji", "timezone": "Asia/Makassar"},
                             "sla": {"gangguan": {"resolve": "2d"}}}, "<test>", tmp_path)
    r = Renderer.from_settings(settings)
    text = r.ack(ticket=ticket()).text
    assert "Helpdesk Uji" in text and "± 2 hari" in text and "pukul 15.30 WITA" in text


def test_rendered_becomes_outgoing(renderer):
    out = renderer.ack(ticket=ticket()).outgoing(["budi@example.co.id"], in_reply_to="<a@b>")
    assert isinstance(out, Outgoing)
    assert (out.kind, out.to, out.in_reply_to) == ("ack", ("budi@example.co.id",), "<a@b>")
    assert out.subject.startswith("[LPSE#12]") and out.html.startswith("<!DOCTYPE html>")


# --- the acknowledgement ---------------------------------------------------------------------


def test_ack_says_number_category_target_and_free_of_charge(renderer):
    out = renderer.ack(ticket=ticket())
    for part in (out.text, out.html):
        assert "Yth. Bapak/Ibu Budi Santoso," in part
        assert "[LPSE#12]" in part
        assert "Gangguan layanan" in part
        assert "3 hari" in part
        assert "Sabtu, 28 November 2026 pukul 14.30 WIB" in part
        assert "tidak dipungut biaya" in part
        assert "Helpdesk LPSE Provinsi Lampung" in part
    assert "jangan mengubah kode [LPSE#12] di subjek" in out.text
    assert "balas email ini" in out.text


@pytest.mark.parametrize("category, words, target", [
    ("gangguan", "tidak berjalan", "± 3 hari"),
    ("permasalahan", "batas waktu tender", "± 1 hari"),
    ("permintaan", "akun, password, persyaratan", "± 1 jam"),
])
def test_ack_explains_each_category(renderer, category, words, target):
    text = renderer.ack(ticket=ticket(category=category)).text
    assert words in text and target in text


def test_ack_targets_follow_the_config(tmp_path):
    r = make_renderer(targets={"gangguan": timedelta(days=2, hours=4)})
    assert "± 2 hari 4 jam" in r.ack(ticket=ticket()).text


def test_registration_requirements_only_with_the_topic(renderer):
    items = ("Fotokopi KTP direktur/pemilik", "Fotokopi NPWP perusahaan", "Surat permohonan",
             "Dokumen perusahaan")
    with_topic = renderer.ack(ticket=ticket(), topics=("registration",))
    without = renderer.ack(ticket=ticket(), topics=("password",))
    for item in items:
        assert item in with_topic.text and item in with_topic.html
        assert item not in without.text and item not in without.html


def test_greeting_without_a_name(renderer):
    assert renderer.ack(ticket=ticket(reporter_name="")).text.startswith("Yth. Bapak/Ibu,\n")


def test_due_shown_in_local_time_whatever_zone_it_comes_in(renderer):
    due_utc = datetime(2026, 11, 25, 7, 30, tzinfo=UTC)
    assert "Rabu, 25 November 2026 pukul 14.30 WIB" in renderer.ack(ticket=ticket(due_at=due_utc)).text


# --- user text is data -----------------------------------------------------------------------


def test_jinja_in_user_text_is_not_evaluated(renderer):
    t = ticket(subject=EVIL, reporter_name=EVIL)
    outs = [out for kind, out in all_kinds(renderer, t).items() if kind != "relay"]
    outs.append(renderer.relay(ticket=t, body=EVIL, staff_name=EVIL))
    outs.append(renderer.escalation(ticket=t, text=EVIL, history=(HistoryEntry(CREATED, EVIL, EVIL, EVIL),)))
    for out in outs:
        assert "{{ 7*7 }} {% if true %}jinja-ran{% endif %}" in out.subject, out.kind
        assert "{{ 7*7 }} {% if true %}jinja-ran{% endif %}" in out.text, out.kind
        assert "49" not in out.text + out.subject, out.kind


def test_html_escapes_user_text_and_text_does_not(renderer):
    t = ticket(subject=EVIL, reporter_name='Budi "<b>" & Co')
    out = renderer.ack(ticket=t)
    assert "<script>" not in out.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in out.html
    assert "Budi &#34;&lt;b&gt;&#34; &amp; Co" in out.html
    assert "<script>alert('x')</script> & co" in out.text
    assert "&lt;" not in out.text and "&amp;" not in out.text


def test_digest_html_escapes_subjects(renderer):
    evil = "<img src=x onerror=alert(1)>"
    out = renderer.digest(context=digest_context([digest_ticket(subject=evil, due_at=CREATED)]))
    assert "<img" not in out.html and "&lt;img src=x onerror=alert(1)&gt;" in out.html
    assert "<img src=x onerror=alert(1)>" in out.text
    assert "{{ 7*7 }}" in renderer.digest(context=digest_context([digest_ticket(subject=EVIL)])).text


# --- staff-side mail -------------------------------------------------------------------------


def test_notification_has_body_attachments_review_and_tags(renderer):
    attachments = (Attachment("layar.png", "image/png", 2_500_000),)
    out = renderer.notification(ticket=ticket(), body="Pak, saya ga bisa login.", attachments=attachments,
                                needs_review=True)
    assert "Pak, saya ga bisa login." in out.text
    assert "layar.png (2,4 MB)" in out.text
    assert "mohon ditinjau" in out.text
    assert "#tutup / #selesai / #close" in out.text and "#catatan / #note" in out.text
    quiet = renderer.notification(ticket=ticket(), body="x")
    assert "Lampiran" not in quiet.text and "mohon ditinjau" not in quiet.text


def test_error_names_each_line_and_why_and_lists_tags(renderer):
    errors = (CommandError(3, "#tutupp", "tag tidak dikenal"),
              CommandError(5, "#kategori rahasia", "kategori harus gangguan, permasalahan, atau permintaan"))
    out = renderer.error(ticket=ticket(), errors=errors)
    assert "Baris 3: #tutupp\n  -> tag tidak dikenal" in out.text
    assert "Baris 5: #kategori rahasia\n  -> kategori harus" in out.text
    for tag in TAGS:
        assert " / ".join(f"#{alias}" for alias in tag.aliases) in out.text
    assert out.subject == "Perintah tidak dijalankan: [LPSE#12] Tidak bisa login SPSE"


def test_error_prints_a_ready_help_text_as_it_is(renderer):
    help_text = "Tag perintah ditulis di baris tersendiri:\n- #tutup (#close): tutup tiket"
    out = renderer.error(ticket=ticket(), errors=(CommandError(1, "#x", "tidak dikenal"),), tags=help_text)
    assert help_text + "\n" in out.text
    assert "#tugaskan" not in out.text


def test_ack_without_a_due_time(renderer):
    out = renderer.ack(ticket=ticket(due_at=None))
    assert "Target penyelesaian: ± 3 hari.\n" in out.text
    assert "paling lambat" not in out.text and "paling lambat" not in out.html


def test_escalation_has_summary_history_and_text(renderer):
    history = (HistoryEntry(CREATED, "budi@example.co.id", "created"),
               HistoryEntry(CREATED + timedelta(hours=1), "Rina", "note", "server sedang dicek"),
               HistoryEntry(CREATED + timedelta(hours=2), "Rina", "sesuatu yang lain"))
    out = renderer.escalation(ticket=ticket(assignee="Rina"), text="Perlu keputusan koordinator.",
                              history=history, by="Rina")
    assert "dieskalasi ke koordinator oleh Rina" in out.text
    assert "Perlu keputusan koordinator." in out.text
    assert "Rabu, 25 November 2026 pukul 14.30 WIB, budi@example.co.id: tiket dibuat" in out.text
    assert "Rina: catatan internal: server sedang dicek" in out.text
    assert "Rina: sesuatu yang lain" in out.text
    assert "Petugas: Rina" in out.text and "Status: diproses" in out.text


def test_warning_and_breach_say_how_long(renderer):
    t = ticket()
    assert "sisa waktu 4 jam 30 menit" in renderer.warning(ticket=t, now=t.due_at - timedelta(hours=4.5)).text
    breach = renderer.breach(ticket=t, now=t.due_at + timedelta(days=1, minutes=5))
    assert "terlambat 1 hari 5 menit" in breach.text
    assert breach.subject.startswith("Lewat target: [LPSE#12]")
    with pytest.raises(ValueError):
        renderer.warning(ticket=ticket(due_at=None), now=CREATED)


def test_closing_has_reply_text_and_how_to_reopen(renderer):
    out = renderer.closing(ticket=ticket(), body="Akun sudah aktif kembali.", staff_name="Rina")
    assert "Akun sudah aktif kembali." in out.text and "Tanggapan Rina" in out.text
    assert "balas email ini dan laporan akan kami buka kembali" in out.text
    assert "Tanggapan" not in renderer.closing(ticket=ticket()).text


def test_relay_is_the_staff_text_and_signature(renderer):
    body = "Selamat siang Pak Budi,\n\nSilakan coba lagi."
    out = renderer.relay(ticket=ticket(), body=body, staff_name="Rina")
    assert out.text.startswith("Selamat siang Pak Budi,\n\nSilakan coba lagi.\n")
    assert "Rina\nHelpdesk LPSE Provinsi Lampung" in out.text


DIGEST_NOW = datetime(2026, 11, 25, 7, 30, tzinfo=WIB)


def digest_ticket(**changes) -> DigestTicket:
    values = dict(number=12, token="LPSE#12", subject="Tidak bisa login SPSE", category="gangguan",
                  status="open", created_at=DIGEST_NOW - timedelta(days=2), due_at=None)
    values.update(changes)
    return DigestTicket(**values)


def digest_context(tickets=(), failed=0, quarantined=0, **kwargs) -> DigestContext:
    return build_digest(tickets, failed, quarantined, DIGEST_NOW, WIB, TARGETS, **kwargs)


def closed_ticket(number: int, category: str, on_time: bool) -> DigestTicket:
    created = DIGEST_NOW - timedelta(days=5)
    closed_at = created + timedelta(minutes=30)
    return digest_ticket(number=number, token=f"LPSE#{number}", category=category, status="closed",
                         created_at=created, closed_at=closed_at,
                         due_at=closed_at + timedelta(minutes=1 if on_time else -1))


def test_digest_counts(renderer):
    tickets = [digest_ticket(), digest_ticket(number=13, token="LPSE#13", category="permintaan",
                                              status="waiting", needs_review=True),
               closed_ticket(14, "permintaan", True)]
    out = renderer.digest(context=digest_context(tickets))
    assert out.kind == "digest"
    assert out.subject == "Ringkasan harian Helpdesk LPSE Provinsi Lampung, Rabu, 25 November 2026"
    for part in (out.text, out.html):
        assert "Gangguan layanan" in part and "Permintaan layanan" in part and "menunggu pelapor" in part
        assert "Rabu, 25 November 2026 pukul 07.30 WIB" in part
    assert "Tiket terbuka: 2\n- Gangguan layanan: 1\n- Permasalahan: 0\n- Permintaan layanan: 1\n" in out.text
    assert "- diproses: 1" in out.text and "- menunggu pelapor: 1" in out.text
    assert "Kategori perlu ditinjau:\n- [LPSE#13] Tidak bisa login SPSE" in out.text
    assert "Tidak ada tiket yang melewati target atau jatuh tempo hari ini." in out.text
    assert "Melewati target" not in out.text


def test_digest_lists_overdue_due_today_and_oldest(renderer):
    tickets = [digest_ticket(due_at=DIGEST_NOW - timedelta(hours=3), assignee="rina"),
               digest_ticket(number=15, token="LPSE#15", subject="Jadwal tender", category="permasalahan",
                             created_at=DIGEST_NOW - timedelta(days=9),
                             due_at=DIGEST_NOW + timedelta(hours=5))]
    out = renderer.digest(context=digest_context(tickets, failed=2, quarantined=1))
    assert ("Melewati target (1):\n- [LPSE#12] Tidak bisa login SPSE\n"
            "  terlambat 3 jam, diproses, rina") in out.text
    assert ("Jatuh tempo hari ini (1):\n- [LPSE#15] Jadwal tender\n"
            "  target Rabu, 25 November 2026 pukul 12.30 WIB (sisa 5 jam)") in out.text
    assert "Tiket terbuka paling lama:\n- [LPSE#15] Jadwal tender\n  9 hari, diproses" in out.text
    assert "Email gagal terkirim: 2" in out.text
    assert "Email dikarantina: 1 (lihat: mailticket quarantine list)" in out.text
    assert "terlambat 3 jam" in out.html and "sisa 5 jam" in out.html and "9 hari" in out.html


def test_digest_compliance_in_text_and_as_a_bar_chart(renderer):
    tickets = [closed_ticket(1, "gangguan", True), closed_ticket(2, "gangguan", True),
               closed_ticket(3, "gangguan", False), closed_ticket(4, "permintaan", True)]
    out = renderer.digest(context=digest_context(tickets))
    assert "Gangguan layanan (target ± 3 hari)\n  Tanggapan pertama (median): -\n" in out.text
    assert "  Penyelesaian (median): 30 menit\n  Tepat waktu: 67% (2 dari 3 tiket)" in out.text
    assert "Tepat waktu: - (belum ada tiket selesai)" in out.text  # permasalahan
    assert 'width="67%"' in out.html and "width:67%" in out.html and "#c53030" in out.html  # red below 75
    assert 'width="100%" style="width:100%;height:14px' in out.html and "#2f855a" in out.html
    assert "belum ada tiket selesai" in out.html
    assert "<img" not in out.html


def test_digest_text_fits_a_phone(renderer):
    tickets = [closed_ticket(1, "gangguan", True), digest_ticket(due_at=DIGEST_NOW - timedelta(hours=1))]
    text = renderer.digest(context=digest_context(tickets, quarantined=1)).text
    assert max(len(line) for line in text.splitlines()) <= 72
    assert "\n\n\n" not in text


DIGEST_HEALTH = InboxHealth(last_fetch=DIGEST_NOW - timedelta(minutes=2), started=DIGEST_NOW - timedelta(days=3),
                            received=120, kept=30, quarantined=2)


def many_overdue(count: int) -> list[DigestTicket]:
    return [digest_ticket(number=n, token=f"LPSE#{n}", subject=f"Laporan {n}", assignee=f"petugas{n % 25}",
                          due_at=DIGEST_NOW - timedelta(hours=n)) for n in range(1, count + 1)]


def test_digest_inbox_health(renderer):
    out = renderer.digest(context=digest_context([], failed=1, health=DIGEST_HEALTH))
    assert ("Kotak masuk:\n- Terakhir berhasil dibaca: Rabu, 25 November 2026 pukul 07.28 WIB\n"
            "- Layanan berjalan: 3 hari\n- Email masuk 24 jam terakhir: 120\n"
            "  (30 disimpan tanpa tiket, 2 dikarantina)\n") in out.text
    assert "Email gagal terkirim: 1" in out.text
    assert "pukul 07.28 WIB" in out.html and "3 hari" in out.html and "120 email masuk" in out.html
    stopped = InboxHealth(last_fetch=None, started=None, received=0, kept=0, quarantined=0)
    out = renderer.digest(context=digest_context([], health=stopped))
    assert "- Terakhir berhasil dibaca: belum pernah\n- Layanan berjalan: tidak berjalan\n" in out.text
    assert "Kotak masuk" not in renderer.digest(context=digest_context([])).text  # not loaded: not shown


def test_digest_lists_twenty_most_overdue_and_the_command_for_all(renderer):
    out = renderer.digest(context=digest_context(many_overdue(45)))
    assert "Melewati target (45, 20 paling lama):\n- [LPSE#45] Laporan 45\n  terlambat 1 hari 21 jam" in out.text
    assert "[LPSE#26] Laporan 26" in out.text and "[LPSE#25] Laporan 25" not in out.text
    assert "dan 25 lainnya; semua: mailticket tickets list --overdue\n" in out.text
    assert "dan 25 lainnya" in out.html and "mailticket tickets list --overdue" in out.html
    assert ">45</span>" in out.html  # the count box says all of them
    assert out.text.count("terlambat") == 20 and out.html.count("terlambat") == 20
    assert max(len(line) for line in out.text.splitlines()) <= 72 and "\n\n\n" not in out.text
    few = renderer.digest(context=digest_context(many_overdue(3))).text
    assert "Melewati target (3):\n" in few and "lainnya" not in few


def test_digest_open_tickets_per_staff_member(renderer):
    tickets = [*many_overdue(45), digest_ticket(number=99, token="LPSE#99", assignee=None)]
    out = renderer.digest(context=digest_context(tickets))
    section = out.text.split("Tiket terbuka per petugas:\n", 1)[1].split("\n\n", 1)[0]
    lines = section.splitlines()
    assert lines[0] == "- belum ditugaskan: 1"
    assert lines[1:3] == ["- petugas1: 2", "- petugas10: 2"]  # most first, then by name
    assert len(lines) == 21 and lines[-1] == "dan 6 petugas lainnya"  # 25 staff and the unassigned
    assert "belum ditugaskan" in out.html and "dan 6 petugas lainnya" in out.html


def test_digest_unrated_closures_only_with_the_survey(renderer):
    yesterday = DIGEST_NOW - timedelta(days=1)
    tickets = [digest_ticket(number=n, token=f"LPSE#{n}", subject=f"Selesai {n}", status="closed",
                             closed_at=yesterday + timedelta(minutes=n), rating=4 if n % 2 else None)
               for n in range(1, 51)]
    tickets.append(digest_ticket(number=60, token="LPSE#60", status="closed", closed_at=DIGEST_NOW - timedelta(days=5)))
    text = renderer.digest(context=digest_context(tickets, survey=True)).text
    assert ("Survei kepuasan: 26 dari 51 tiket yang ditutup\n30 hari terakhir belum dinilai pelapor.\n"
            "Ditutup kemarin tanpa penilaian (25):\n- [LPSE#50] Selesai 50\n") in text
    assert text.count("- [LPSE#") == 20 and "dan 5 lainnya\n" in text
    html = renderer.digest(context=digest_context(tickets, survey=True)).html
    assert "Ditutup kemarin tanpa penilaian (25)" in html and "dan 5 lainnya" in html
    assert "Survei kepuasan" not in renderer.digest(context=digest_context(tickets)).text


# --- Indonesian formatting -------------------------------------------------------------------


def test_format_datetime_in_indonesian():
    moment = datetime(2026, 11, 25, 7, 30, tzinfo=UTC)
    assert locale_id.format_datetime(moment, WIB) == "Rabu, 25 November 2026 pukul 14.30 WIB"
    assert locale_id.format_datetime(moment, ZoneInfo("Asia/Makassar")).endswith("pukul 15.30 WITA")
    assert locale_id.format_datetime(moment, ZoneInfo("Asia/Jayapura")).endswith("pukul 16.30 WIT")
    assert locale_id.format_datetime(moment, timezone(timedelta(hours=7))).endswith("14.30 UTC+7")
    assert locale_id.format_datetime(moment, timezone(timedelta(hours=5, minutes=30))).endswith("13.00 UTC+5.30")
    with pytest.raises(ValueError):
        locale_id.format_datetime(datetime(2026, 11, 25, 7, 30), WIB)


def test_day_and_month_names():
    days = [locale_id.format_date(date(2026, 11, 23) + timedelta(days=i)).split(",")[0] for i in range(7)]
    assert days == ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"]
    months = [locale_id.format_date(date(2026, m, 1)).split(" ")[2] for m in range(1, 13)]
    assert months == ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
                      "September", "Oktober", "November", "Desember"]
    assert locale_id.format_date(date(2027, 1, 1)) == "Jumat, 1 Januari 2027"


def test_midnight_and_leading_zeros():
    moment = datetime(2026, 12, 31, 17, 5, tzinfo=UTC)  # 00.05 next day in WIB
    assert locale_id.format_datetime(moment, WIB) == "Jumat, 1 Januari 2027 pukul 00.05 WIB"


@pytest.mark.parametrize("span, words", [
    (timedelta(days=3), "3 hari"), (timedelta(hours=1), "1 jam"), (timedelta(minutes=45), "45 menit"),
    (timedelta(days=1, hours=2, minutes=3), "1 hari 2 jam"), (timedelta(seconds=30), "kurang dari 1 menit"),
    (-timedelta(hours=2), "2 jam"),
])
def test_format_duration(span, words):
    assert locale_id.format_duration(span) == words


def test_format_size():
    assert [locale_id.format_size(n) for n in (850, 123456, 2_500_000)] == ["850 B", "120 KB", "2,4 MB"]


# --- issue 14: what staff and coordinators read ------------------------------------------------


RECENT = (MessageEntry(CREATED, "Budi Santoso <budi@example.co.id>", "report",
                       "Saya tidak bisa login ke SPSE.\nMuncul error 500."),
          MessageEntry(CREATED + timedelta(hours=1), "Rina Wulandari", "staff_reply", "Silakan coba reset."))


@pytest.mark.parametrize(("event", "subject", "first_line"), [
    ("new", "Tiket baru", "Tiket baru dari Budi Santoso <budi@example.co.id>."),
    ("reply", "Balasan pelapor", "Pelapor Budi Santoso <budi@example.co.id> membalas tiket [LPSE#12]."),
    ("reopened", "Dibuka kembali", "Tiket [LPSE#12] dibuka kembali: pelapor Budi Santoso"),
    ("other", "Pesan pihak lain", "Pesan dari Budi Santoso <budi@example.co.id> pada tiket [LPSE#12]."),
    ("colleague", "Sudah dijawab rekan", "Budi Santoso <budi@example.co.id> sudah menjawab pelapor"),
    ("oversize", "Email terlalu besar", "Email dari Budi Santoso <budi@example.co.id> masuk pada tiket"),
])
def test_notification_names_the_event_in_subject_and_first_line(renderer, event, subject, first_line):
    out = renderer.notification(ticket=ticket(), body="Masih gagal.", event=event, author="Budi Santoso",
                                author_email="budi@example.co.id", recent=RECENT, size_limit=10_000_000)
    assert out.subject == f"{subject}: [LPSE#12] Tidak bisa login SPSE"
    assert out.text.startswith(first_line)
    if event == "oversize":
        assert "tidak dibaca" in out.text and "mailticket tickets show LPSE#12" in out.text
        assert "Masih gagal." not in out.text
    else:
        assert "Masih gagal." in out.text and "Isi laporan" in out.text or event != "new"
        assert "Pesan terakhir sebelumnya pada tiket ini:" in out.text
        assert "Rina Wulandari (balasan petugas):\n  Silakan coba reset." in out.text
    with pytest.raises(ValueError):
        renderer.notification(ticket=ticket(), body="", event="nonsense")


def test_notification_of_a_stranger_says_how_the_sender_relates(renderer):
    cc = renderer.notification(ticket=ticket(), body="x", event="other", author="Ani", author_email="a@x.id",
                               role="cc")
    assert "tembusan (Cc)" in cc.text
    stranger = renderer.notification(ticket=ticket(), body="x", event="other", author_email="j@x.id",
                                     role="stranger")
    assert "bukan pelapor" in stranger.text and "Pesan dari j@x.id" in stranger.text


def test_history_is_in_words_without_event_codes_or_iso_times(renderer):
    history = (HistoryEntry(CREATED, "Budi Santoso <budi@example.co.id>", "created"),
               HistoryEntry(CREATED, "sistem", "classified", "gangguan: login, error"),
               HistoryEntry(CREATED, "sistem", "ack-skipped", "more than 5 new tickets"),
               HistoryEntry(CREATED, "Rina Wulandari", "status", "new -> open"),
               HistoryEntry(CREATED, "Rina Wulandari", "category", "gangguan -> permintaan"),
               HistoryEntry(CREATED, "sistem", "warning", "due 2026-11-28T14:30+07:00"),
               HistoryEntry(CREATED, "Rina Wulandari", "escalated", "open -> escalated: perlu LKPP"))
    out = renderer.escalation(ticket=ticket(), text="perlu LKPP", by="Rina Wulandari", history=history,
                              report="Saya tidak bisa login ke SPSE.", recent=RECENT)
    text = out.text
    assert "Rina Wulandari: status diubah: baru → diproses" in text
    assert "kategori diubah: Gangguan layanan → Permintaan layanan" in text
    assert "dieskalasi: diproses → dieskalasi: perlu LKPP" in text
    assert "sistem: peringatan SLA\n" in text
    for code in ("classified", "rules:", "->", "ack-skipped", "2026-11-28T", "new -> open", "due "):
        assert code not in text, code
    assert "----- Isi laporan -----\nSaya tidak bisa login ke SPSE." in text
    assert "Pesan terakhir sebelumnya" in text and "#tugaskan / #assign X" in text


@pytest.mark.parametrize("kind", ["warning", "breach"])
def test_warning_and_breach_carry_report_last_messages_history_and_tags(renderer, kind):
    t = ticket(assignee="sari@lampungprov.go.id")
    now = t.due_at + (timedelta(hours=2) if kind == "breach" else -timedelta(hours=2))
    out = getattr(renderer, kind)(ticket=t, now=now, report="Saya tidak bisa login.", recent=RECENT,
                                  history=(HistoryEntry(CREATED, "Rina Wulandari", "status", "new -> open"),))
    assert "Saya tidak bisa login." in out.text and "Silakan coba reset." in out.text
    assert "Petugas: sari@lampungprov.go.id" in out.text and "Target: Sabtu, 28 November 2026 pukul 14.30 WIB" in out.text
    assert "status diubah: baru → diproses" in out.text and "#catatan / #note" in out.text
    assert ("terlambat 2 jam" if kind == "breach" else "sisa waktu 2 jam") in out.text


def test_assigned_mail_has_summary_report_and_history(renderer):
    out = renderer.assigned(ticket=ticket(assignee="sari@lampungprov.go.id"), by="Rina Wulandari",
                            report="Saya tidak bisa login ke SPSE.", recent=RECENT[1:],
                            history=(HistoryEntry(CREATED, "Rina Wulandari", "assigned", "Sari"),))
    assert out.subject == "Ditugaskan kepada Anda: [LPSE#12] Tidak bisa login SPSE"
    assert out.text.startswith("Tiket [LPSE#12] ditugaskan kepada Anda oleh Rina Wulandari.")
    assert "Saya tidak bisa login ke SPSE." in out.text and "Rina Wulandari: ditugaskan: Sari" in out.text


def test_transcript_says_per_command_what_changed_and_the_new_state(renderer):
    steps = (Step("category", "#kategori permintaan", (("category", "gangguan", "permintaan"),)),
             Step("assign", "#tugaskan sari", (("status", "new", "open"), ("assignee", "", "sari@x.id"))),
             Step("close", "#tutup", ()),
             Step("note", "#catatan", ()))
    out = renderer.transcript(ticket=ticket(category="permintaan", assignee="sari@x.id"), steps=steps,
                              sent=(("assigned", "", ("sari@x.id",)), ("notification", "colleague", ("a@x", "b@x"))))
    assert out.subject == "Perintah dijalankan: [LPSE#12] Tidak bisa login SPSE"
    text = out.text
    assert "#kategori permintaan: kategori: Gangguan layanan → Permintaan layanan" in text
    assert "#tugaskan sari: status: baru → diproses; petugas: belum ada → sari@x.id" in text
    assert "#tutup: tidak ada perubahan" in text and "#catatan: catatan internal disimpan" in text
    assert "- pemberitahuan tugas: sari@x.id" in text and "- salinan untuk rekan: a@x, b@x" in text
    assert "Teks balasan Anda tidak diteruskan ke pelapor." in text
    assert "Status: diproses\nKategori: Permintaan layanan\nPetugas: sari@x.id" in text


@pytest.mark.parametrize(("name", "greeting"), [
    ("budi santoso", "Yth. Bapak/Ibu Budi Santoso,"),
    ("BUDI SANTOSO", "Yth. Bapak/Ibu Budi Santoso,"),
    ("PT Maju Jaya", "Yth. Bapak/Ibu di PT Maju Jaya,"),
    ("cv sumber rejeki", "Yth. Bapak/Ibu di CV Sumber Rejeki,"),
    ("", "Yth. Bapak/Ibu,"),
])
def test_greeting_tolerates_lowercase_and_company_names(renderer, name, greeting):
    out = renderer.ack(ticket=ticket(reporter_name=name))
    assert out.text.startswith(greeting + "\n")
    assert greeting.removesuffix(",") in out.html
    assert "Bapak/Ibu Pt" not in out.text


def test_format_left_says_terlambat_when_overdue():
    assert locale_id.format_left(timedelta(hours=-2)) == "terlambat 2 jam"
    assert locale_id.format_left(timedelta(hours=2, minutes=5)) == "sisa waktu 2 jam 5 menit"


@pytest.mark.parametrize(("attachments", "arrived", "missing"), [
    ((), (), ("Fotokopi KTP", "Fotokopi NPWP", "Surat permohonan", "Dokumen perusahaan")),
    (("KTP_Direktur.pdf", "npwp pt maju.jpg"), ("Fotokopi KTP", "Fotokopi NPWP"),
     ("Surat permohonan", "Dokumen perusahaan")),
    (("KTP_Direktur.pdf", "npwp pt maju.jpg", "Surat Permohonan.pdf", "Akta Pendirian.pdf"),
     ("Fotokopi KTP", "Fotokopi NPWP", "Surat permohonan", "Dokumen perusahaan"), ()),
])
def test_ack_says_which_documents_arrived_and_which_are_missing(renderer, attachments, arrived, missing):
    found = check("Mohon didaftarkan.", tuple(Attachment(n, "application/pdf", 1000) for n in attachments), True)
    out = renderer.ack(ticket=ticket(), topics=("registration",), checklist=found)
    text = out.text
    if not arrived:
        assert "Persyaratan pendaftaran akun penyedia:\n1. Fotokopi KTP direktur/pemilik" in text
    else:
        received = text.split("sudah kami terima:")[1].split("\n\n")[0]
        assert all(label in received for label in arrived)
    if missing and arrived:
        still = text.split("Yang masih perlu Bapak/Ibu kirimkan")[1]
        assert all(label in still for label in missing) and "Fotokopi KTP" not in still
    if not missing:
        assert "sudah lengkap" in text and "sudah lengkap" in out.html
    note = renderer.notification(ticket=ticket(), body="Mohon didaftarkan.", checklist=found)
    assert all(f"[v] {label}" in note.text for label in arrived)
    assert all(f"[ ] {label}" in note.text for label in missing)


def test_cli_left_column_is_never_minus_zero():
    from types import SimpleNamespace

    from mailticket.cli.views import remaining
    due = CREATED
    row = SimpleNamespace(due_at=due, status="open")
    assert remaining(row, due + timedelta(seconds=30)) == "-0h01m"
    assert remaining(row, due + timedelta(hours=2)) == "-2h00m"
    assert remaining(row, due - timedelta(hours=2, seconds=30)) == "2h00m"


def test_report_prints_this_and_last_months_ikm_with_a_decimal_comma(renderer):
    from mailticket.core.report import build_report
    from mailticket.core.sla import Calendar
    from tests.unit.test_report import FIRST, NOV, TICKETS
    from tests.unit.test_report import TARGETS as REPORT_TARGETS

    out = renderer.report(report=build_report(TICKETS, NOV, Calendar(), REPORT_TARGETS, FIRST))
    assert "- Indeks Kepuasan Masyarakat: IKM 75,00 (C, " in out.text and " penilaian (75,00)\n" in out.text
    assert "IKM 75,00</span>" in out.html
    assert not re.search(r"\d\.\d", out.text.split("Keterangan")[0])  # no decimal point anywhere
