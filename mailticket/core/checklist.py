"""Registration checklist (pure): a mail's text and attachment names in, which of the four documents
a vendor's registration needs arrived and which are still missing out.

The four documents (LPSE Provinsi Lampung): a copy of the director's or owner's KTP, a copy of the
company's NPWP, the request letter (surat permohonan) and the company documents (akta, NIB, SIUP …).
A document counts as arrived when an attachment's file name names it ("KTP_Direktur.pdf",
"npwp pt maju.jpg") or when a sentence of the text says it is attached ("Bersama ini kami lampirkan
KTP direktur dan NPWP"). A document named without an attaching word ("apakah perlu KTP?") has not
arrived. The acknowledgement (templates/ack.txt) and the staff notification print the result.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mailticket.types import Attachment


@dataclass(frozen=True)
class Document:
    key: str
    label: str  # as the acknowledgement lists it
    pattern: re.Pattern[str]  # in a file name or a sentence
    in_text: re.Pattern[str] | None = None  # stricter, for the text, where the word has other uses


def _words(*alternatives: str) -> re.Pattern[str]:
    # file names use _ - . as spaces: "Surat_Permohonan.pdf"
    return re.compile(r"(?<![a-z])(?:" + "|".join(alternatives) + r")(?![a-z])", re.I)


DOCUMENTS = (
    Document("ktp", "Fotokopi KTP direktur/pemilik",
             _words(r"ktp", r"e-?ktp", r"kartu[\s_.-]*tanda[\s_.-]*penduduk")),
    Document("npwp", "Fotokopi NPWP perusahaan",
             _words(r"npwp", r"nomor[\s_.-]*pokok[\s_.-]*wajib[\s_.-]*pajak")),
    Document("permohonan", "Surat permohonan",
             _words(r"(?:surat[\s_.-]*)?permohonan", r"surat[\s_.-]*pengajuan"),
             # "kami mengajukan permohonan pendaftaran" is the mail itself, not the signed letter
             _words(r"surat[\s_.-]*permohonan", r"surat[\s_.-]*pengajuan")),
    Document("perusahaan", "Dokumen perusahaan",
             _words(r"akta(?:[\s_.-]*pendirian)?", r"akte", r"nib", r"siup", r"tdp", r"skdp",
                    r"sk[\s_.-]*domisili",
                    r"surat[\s_.-]*keterangan[\s_.-]*domisili", r"dokumen[\s_.-]*perusahaan",
                    r"company[\s_.-]*profile", r"sk[\s_.-]*kemenkumham", r"izin[\s_.-]*usaha")),
)
# a sentence that says something comes with the mail
_ATTACHING = re.compile(r"lampir|sertakan|kami kirim|saya kirim|berikut ini|berikut kami|berikut saya"
                        r"|attached|enclosed", re.I)
_QUESTION = re.compile(r"\?|\bapakah\b|\bperlukah\b|\bharuskah\b", re.I)
# sentences end at . ! ? after a word (not "1. KTP") or at a blank line; "Berikut kami lampirkan:" and
# the list lines under it stay one sentence
_SENTENCE = re.compile(r"(?<=[^\W\d_)][.!?])\s+|\n\s*\n")


@dataclass(frozen=True)
class Checklist:
    arrived: tuple[str, ...]  # labels, in DOCUMENTS order
    missing: tuple[str, ...]
    files: tuple[tuple[str, str], ...] = ()  # (file name, label) of each attachment recognised

    @property
    def complete(self) -> bool:
        return not self.missing


def check(text: str, attachments: Sequence[Attachment], registration: bool = False) -> Checklist | None:
    """The checklist of a mail, or None when it is no registration request and names no document."""
    files = tuple((a.filename, doc.label) for a in attachments for doc in DOCUMENTS
                  if doc.pattern.search(_spaced(a.filename)))
    sentences = _attaching_sentences(text)
    named = {doc.label for doc in DOCUMENTS if any(_names(s, doc) for s in sentences)}
    found = named | {label for _name, label in files}
    if not registration and not found:
        return None
    arrived = tuple(doc.label for doc in DOCUMENTS if doc.label in found)
    missing = tuple(doc.label for doc in DOCUMENTS if doc.label not in found)
    return Checklist(arrived, missing, files)


def _spaced(filename: str) -> str:
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    return re.sub(r"[_.\-]+", " ", stem)


def _attaching_sentences(text: str) -> list[str]:
    """The sentences that say something comes with the mail (none asks); most mail has none at all."""
    if not _ATTACHING.search(text):
        return []
    return [s for s in _SENTENCE.split(text) if _ATTACHING.search(s) and not _QUESTION.search(s)]


def _names(sentence: str, doc: Document) -> bool:
    return bool((doc.in_text or doc.pattern).search(sentence))
