"""Spam and phishing end to end: ingest with a real SQLite file and the directory outbox.

Each fixture class (tests/data/spam) is kept as spam with its reason in `mail list --json`, opens no
ticket and gets no acknowledgement, while a real report in the same batch gets both.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import make_mail

SPAM = Path(__file__).resolve().parents[1] / "data" / "spam"
REPORT = """\
    Selamat pagi,
    sejak tadi pagi kami tidak bisa login ke SPSE, muncul pesan error 500.
    Mohon dibantu. Terima kasih.
    """
EXPECTED = {
    "tender_advert_id.eml": "tender-win-service",
    "phishing_lkpp_id.eml": "credentials-at-foreign-link (inapr0c-login.com)",
    "phishing_storage_en.eml": "dmarc=fail, policy reject",
    "dmarc_reject_id.eml": "dmarc=fail, policy reject",
    "upstream_flag_en.eml": "X-Spam-Flag: YES",
}


def test_spam_and_phishing_are_kept_and_a_report_in_the_same_batch_gets_its_ticket(helpdesk):
    report = helpdesk.write("report.eml", make_mail("Tidak bisa login SPSE", REPORT,
                                                    sender="Budi <budi@dinaspu.lampungprov.go.id>"))
    paths = [str(helpdesk.write(name, (SPAM / name).read_bytes())) for name in sorted(EXPECTED)]
    helpdesk.cli("ingest", *paths[:2], str(report), *paths[2:])
    tickets = helpdesk.json("tickets", "list")
    assert [t["reporter"] for t in tickets] == ["budi@dinaspu.lampungprov.go.id"]
    acks = helpdesk.sent("ack")
    assert len(acks) == 1 and b"budi@dinaspu.lampungprov.go.id" in acks[0].read_bytes()
    assert all(b"budi@dinaspu" in p.read_bytes() or b"provlampunglpse" in p.read_bytes()
               for p in helpdesk.sent())  # nothing to a spam sender
    kept = helpdesk.json("mail", "list", "--kind", "spam")
    assert len(kept) == len(EXPECTED)
    reasons = " | ".join(k["why"] for k in kept)
    for reason in EXPECTED.values():
        assert reason in reasons


def test_phishing_in_english_is_caught_by_its_rules_when_dmarc_says_nothing(helpdesk):
    data = (SPAM / "phishing_storage_en.eml").read_bytes().replace(b"dmarc=fail (p=REJECT", b"dmarc=fail (p=NONE")
    helpdesk.cli("ingest", str(helpdesk.write("en.eml", data)))
    assert helpdesk.json("tickets", "list") == [] and helpdesk.sent() == []
    why = helpdesk.json("mail", "list", "--kind", "spam")[0]["why"]
    assert "credentials-at-foreign-link (secure-mailbox-upgrade.web.app)" in why
    assert "lookalike-sender (From domain gmaii-support.com imitates gmail)" in why


def test_no_trusted_headers_means_a_spam_flag_is_ignored(helpdesk):
    helpdesk.config.write_text(helpdesk.config.read_text() + "[filter]\ntrust_spam_headers = []\n")
    flagged = make_mail("Tidak bisa login SPSE", REPORT, headers={"X-Spam-Flag": "YES"})
    helpdesk.cli("ingest", str(helpdesk.write("1.eml", flagged)))
    assert len(helpdesk.json("tickets", "list")) == 1


def test_classify_command_explains_a_mail_and_a_text(helpdesk):
    out = helpdesk.cli("classify", str(SPAM / "phishing_lkpp_id.eml")).stdout
    assert "spam:     yes, kept as spam: spam rules matched: credentials-at-foreign-link" in out
    assert "lookalike_sender: From domain lkpp-verifikasi.com imitates lkpp" in out
    proc = subprocess.run([sys.executable, "-m", "mailticket.cli", "--config", str(helpdesk.config), "classify", "-"],
                          input="email aktivasi gk masuk2", capture_output=True, text=True, cwd=helpdesk.root,
                          timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[:3] == [
        "category: gangguan (rules)", "scores:   gangguan 5  permasalahan 0  permintaan 3",
        "matched:  code-missing, account-request, not-received"]
    assert "event:    classified gangguan: code-missing, account-request, not-received (by rules)" in proc.stdout
    assert "spam:     no" in proc.stdout


def test_a_blocked_senders_spam_is_kept_as_blocked_with_the_block_entry(helpdesk):
    helpdesk.cli("block", "add", "mitratender.sukses77@gmail.com", "--why", "iklan jasa tender")
    helpdesk.cli("ingest", str(helpdesk.write("advert.eml", (SPAM / "tender_advert_id.eml").read_bytes())))
    [kept] = helpdesk.json("mail", "list")
    assert kept["kind"] == "blocked" and "iklan jasa tender" in kept["why"]
    assert helpdesk.json("tickets", "list") == [] and helpdesk.sent() == []


def test_a_deadline_date_two_days_ahead_makes_a_fault_a_problem_in_classify_and_ingest(helpdesk):
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from mailticket.outgoing.locale_id import MONTHS as months  # "Januari", ...
    written = datetime.now(UTC)
    due = (written + timedelta(days=2)).astimezone(ZoneInfo("Asia/Jakarta"))
    named = f"{due.day} {months[due.month - 1]} {due.year}"
    text = f"Upload dokumen penawaran gagal terus, muncul error. Batas pemasukan penawaran tanggal {named}."
    proc = subprocess.run([sys.executable, "-m", "mailticket.cli", "--config", str(helpdesk.config), "classify", "-"],
                          input=text, capture_output=True, text=True, cwd=helpdesk.root, timeout=60)
    assert proc.stdout.startswith("category: permasalahan (rules)"), proc.stdout
    assert f"date_soon: {named} (2 days after the mail)" in proc.stdout
    for reporter, when in (("cv.now@gmail.com", written), ("cv.early@gmail.com", written - timedelta(days=20))):
        data = make_mail("Upload penawaran gagal", text, sender=reporter, msgid=f"<{reporter}>", date=when)
        helpdesk.cli("ingest", str(helpdesk.write(f"{reporter}.eml", data)))
    by_reporter = {t["reporter"]: t["category"] for t in helpdesk.json("tickets", "list")}
    assert by_reporter == {"cv.now@gmail.com": "permasalahan", "cv.early@gmail.com": "gangguan"}
