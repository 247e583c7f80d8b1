"""core.checklist: which of the four registration documents a vendor's mail brings, from realistic
Indonesian mail text and attachment names."""

from __future__ import annotations

import pytest

from mailticket.core.checklist import DOCUMENTS, check
from mailticket.types import Attachment

KTP, NPWP, LETTER, COMPANY = (doc.label for doc in DOCUMENTS)


def files(*names: str) -> tuple[Attachment, ...]:
    return tuple(Attachment(name, "application/pdf", 200_000) for name in names)


def test_no_document_lists_all_four_as_missing():
    text = ("Selamat siang, kami dari CV Sumber Rejeki ingin mendaftar sebagai penyedia di SPSE Lampung. "
            "Apa saja persyaratannya? Apakah perlu KTP direktur?")
    found = check(text, (), registration=True)
    assert found.arrived == () and found.missing == (KTP, NPWP, LETTER, COMPANY)
    assert not found.complete


def test_two_documents_named_in_the_text_with_two_unnamed_pdfs():
    text = ("Dengan hormat,\nBersama ini kami lampirkan KTP direktur dan NPWP perusahaan untuk pendaftaran "
            "akun penyedia PT Maju Jaya.\nTerima kasih.")
    found = check(text, files("scan0001.pdf", "scan0002.pdf"))  # no registration topic matched: still read
    assert found.arrived == (KTP, NPWP) and found.missing == (LETTER, COMPANY)


def test_two_documents_by_file_name():
    found = check("Mohon diproses, terima kasih.", files("KTP_Direktur.pdf", "npwp pt maju.jpg"), registration=True)
    assert found.arrived == (KTP, NPWP) and found.missing == (LETTER, COMPANY)
    assert found.files == (("KTP_Direktur.pdf", KTP), ("npwp pt maju.jpg", NPWP))


def test_four_documents_attached_complete_the_list():
    found = check("Berikut kami kirimkan berkas pendaftaran.",
                  files("KTP_Direktur.pdf", "npwp pt maju.jpg", "Surat Permohonan.pdf", "Akta Pendirian.pdf"),
                  registration=True)
    assert found.arrived == (KTP, NPWP, LETTER, COMPANY) and found.missing == () and found.complete


def test_a_list_under_an_attaching_line_counts_each_item():
    text = ("Dengan hormat, kami mengajukan permohonan pendaftaran akun. Berikut kami lampirkan:\n"
            "1. KTP direktur\n2. NPWP perusahaan\n3. Surat permohonan\n4. NIB dan akta perusahaan")
    assert check(text, (), registration=True).missing == ()


@pytest.mark.parametrize("text", [
    "Apakah surat permohonan harus ditandatangani direktur?",  # a question, not an attachment
    "Kami mengajukan permohonan pendaftaran akun penyedia.",  # the mail itself, not the signed letter
    "Mohon info syarat pendaftaran, NPWP kami masih dalam proses.",  # named, not attached
])
def test_documents_named_without_attaching_have_not_arrived(text):
    assert check(text, (), registration=True).arrived == ()


def test_a_mail_that_is_no_registration_and_names_no_document_has_no_checklist():
    assert check("Saya tidak bisa login ke SPSE, muncul error.", files("screenshot.png")) is None
