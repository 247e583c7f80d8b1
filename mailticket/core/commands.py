"""Commands stage: a staff member's new reply text in, command tags and a precise error per bad line out.

Pure. Run it on `reply.new_text(...)`, so that tags in quoted text are not commands. A tag is a line of
its own that starts with ``#`` and a word (surrounding spaces allowed, case-insensitive); Indonesian
and English names map to one English `Command.name`. Lines starting with ``#`` and a digit (``#1
langkah pertama``) and hashtags inside prose are not tags. A line starting with ``#word`` where the
word is no tag is an error, so that a typo never passes silently.

Arguments: ``#kategori``/``#tugaskan`` need a valid one; ``#eskalasi``, ``#catatan`` and ``#tunggu``
take free text (a reason); ``#tutup``, ``#ambil`` and ``#buka`` take none, and extra words are an error
because "#tutup LPSE#12" may be meant for another ticket (only the idioms "ambil alih" and "buka
kembali" pass). Contradicting tags in one reply (close and reopen, close and wait, take and assign,
two different categories or assignees) are errors too. Whenever errors come back, the caller must
apply none of the commands: the contract says such a reply changes nothing.

`TAGS` is the one table of tags; `VALID_TAGS_HELP`, written from it, is the help that our mail to
staff (notification, error reply) prints.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from mailticket.types import Category, Command, CommandError

NO_ARG, TEXT, CATEGORY, STAFF, TICKET = "none", "text", "category", "staff", "ticket"
PARTNER = "partner"  # a name of [partners], then free text: Command.arg is "name" or "name text"


@dataclass(frozen=True)
class Tag:
    """One command tag: how it is written, what it takes and (for the help in our mail) what it does."""

    name: str  # canonical, English
    aliases: tuple[str, ...]  # Indonesian first, then English; all lower-case
    arg: str  # NO_ARG, TEXT, CATEGORY or STAFF
    usage: str  # argument as shown in the help, "" when none
    meaning: str  # one line, Bahasa Indonesia
    idioms: frozenset[str] = frozenset()  # words allowed after a NO_ARG tag
    to_reporter: bool = False  # reporter-facing: text beside it may be relayed (see `internal`)

    @property
    def internal(self) -> bool:
        """Text beside this tag is internal: recorded and shown to staff, never sent to the reporter.

        Every tag is internal unless marked reporter-facing (#tutup, #tunggu, #buka): a new tag is
        internal by default, so that forgetting the flag can never leak a remark to a citizen."""
        return not self.to_reporter


# The one table of tags: parse_commands reads it, and the help in our mail to staff is written from it.
TAGS = (
    Tag("close", ("tutup", "selesai", "close"), NO_ARG, "",
         "tutup tiket; balasan ini dikirim ke pelapor sebagai pemberitahuan penutupan", to_reporter=True),
    Tag("escalate", ("eskalasi", "escalate"), TEXT, "[keterangan]", "teruskan tiket ke koordinator"),
    Tag("category", ("kategori", "category"), CATEGORY, "X",
         "ubah kategori menjadi X: gangguan, permasalahan atau permintaan"),
    Tag("assign", ("tugaskan", "assign"), STAFF, "X", "tugaskan tiket ke staf X (nama atau alamat e-mail)"),
    Tag("take", ("ambil", "take"), NO_ARG, "", "tugaskan tiket ke Anda sendiri", frozenset({"alih"})),
    Tag("note", ("catatan", "note"), TEXT, "[teks]",
         "catatan internal; balasan ini tidak dikirim ke pelapor"),
    Tag("wait", ("tunggu", "wait"), TEXT, "[keterangan]",
         "menunggu jawaban pelapor; hitungan tenggat waktu berhenti sementara", to_reporter=True),
    Tag("reopen", ("buka", "reopen"), NO_ARG, "", "buka kembali tiket yang sudah ditutup",
         frozenset({"kembali"}), to_reporter=True),
    Tag("merge", ("gabung", "merge"), TICKET, "LPSE#N",
         "gabungkan tiket ini ke tiket N (pesan, riwayat dan Cc pindah; pelapor diberi tahu token barunya)"),
    Tag("forward", ("teruskan", "forward"), PARTNER, "NAMA [teks]",
         "kirim tiket (laporan, lampiran, teks Anda) ke pengelola layanan lain NAMA dari [partners]; "
         "jawabannya masuk ke tiket, tidak diteruskan ke pelapor"),
    Tag("spam", ("spam",), NO_ARG, "",
         "tiket ditutup tanpa e-mail apa pun ke pengirim, dan pengirim diblokir (mailticket block list)"),
    Tag("list", ("daftar", "list"), NO_ARG, "",
         "(dalam e-mail baru tanpa token) daftar tiket terbuka Anda dan yang belum ditugaskan"),
    Tag("help", ("bantuan", "help"), NO_ARG, "", "kirimkan panduan tag perintah ini kepada Anda"),
)
_BY_ALIAS = {alias: tag for tag in TAGS for alias in tag.aliases}


def is_internal(name: str) -> bool:
    """Whether text beside the command `name` (canonical) is internal; unknown names are."""
    tag = next((t for t in TAGS if t.name == name), None)
    return tag is None or tag.internal

_CATEGORIES = {
    "gangguan": Category.GANGGUAN,
    "incident": Category.GANGGUAN,
    "permasalahan": Category.PERMASALAHAN,
    "problem": Category.PERMASALAHAN,
    "permintaan": Category.PERMINTAAN,
    "permintaan layanan": Category.PERMINTAAN,
    "request": Category.PERMINTAAN,
    "service request": Category.PERMINTAAN,
}
# #spam and #gabung close the ticket as #tutup does, each with its own mail (none, or "merged"): together
# with each other, with #tutup, or with what keeps the ticket open, which is meant is unclear
_CLOSERS = ("close", "spam", "merge")
_CONFLICTS = {frozenset(pair) for pair in (
    *((a, b) for i, a in enumerate(_CLOSERS) for b in _CLOSERS[i + 1:]),
    *((closer, other) for closer in _CLOSERS for other in ("reopen", "wait")), ("take", "assign"))}
_SINGLE_VALUED = frozenset({"category", "assign", "merge"})

# "#" + a word starting with a letter; "kategori:gangguan" and "tutup." are fine, "tutup/x" is one token.
_TAG_LINE = re.compile(r"#(?P<word>[^\W\d_][\w-]*)(?P<sep>[.,;:!=]*)(?P<rest>.*)")


def tags_help(tags: Sequence[Tag] = TAGS) -> str:
    """The help on `tags` that our mail to staff prints: a heading, then "- #tutup / #close: ..." lines.

    No line of it is a tag, so a client that quotes it back without ">" sends no command."""
    lines = ["Tag perintah ditulis di baris tersendiri (huruf besar/kecil sama saja):"]
    for tag in tags:
        usage = f" {tag.usage}" if tag.usage else ""
        lines.append(f"- {' / '.join(f'#{alias}' for alias in tag.aliases)}{usage}: {tag.meaning}")
    return "\n".join(lines)


VALID_TAGS_HELP: str = tags_help()

# One example per tag for the help mail (#bantuan): how a line is written, and what the rest of the
# reply then does. A tag without one here is shown with its usage.
_EXAMPLES = {
    "close": ("#tutup", "teks di bawahnya dikirim ke pelapor bersama pemberitahuan penutupan"),
    "escalate": ("#eskalasi perlu keputusan soal perpanjangan jadwal",
                 "koordinator menerima tiket ini dengan teks Anda; tidak dikirim ke pelapor"),
    "category": ("#kategori permasalahan", "teks lain di balasan ini tetap internal"),
    "assign": ("#tugaskan sari", "Sari menerima pemberitahuan; teks lain tetap internal"),
    "take": ("#ambil", "tiket menjadi tugas Anda; teks lain tetap internal"),
    "note": ("#catatan sudah dicek di log server, menunggu vendor", "tidak ada yang dikirim ke pelapor"),
    "wait": ("#tunggu", "teks di bawahnya dikirim ke pelapor; tenggat berhenti sampai pelapor membalas"),
    "reopen": ("#buka", "tiket dibuka kembali; teks di bawahnya dikirim ke pelapor"),
    "merge": ("#gabung LPSE#12", "tiket ini ditutup dan isinya pindah ke LPSE#12; pelapor diberi tahu"),
    "forward": ("#teruskan lkpp mohon dicek, akun penyedia terkunci setelah migrasi",
                "LKPP menerima laporan, lampiran dan teks Anda; jawabannya masuk ke tiket ini"),
    "spam": ("#spam", "tiket ditutup diam-diam dan pengirimnya diblokir; tidak ada e-mail ke pengirim"),
    "list": ("#daftar", "kirim sebagai e-mail baru ke alamat helpdesk, tanpa token di subjek"),
    "help": ("#bantuan", "e-mail ini"),
}


def tag_examples(tags: Sequence[Tag] = TAGS) -> tuple[tuple[str, str, str], ...]:
    """(names, example line, what it does) for every tag; the help mail prints "contoh: <line>", so
    that no line of it is a tag when a client quotes it back without ">"."""
    found = []
    for tag in tags:
        names = " / ".join(f"#{alias}" for alias in tag.aliases)
        line, effect = _EXAMPLES.get(tag.name, (f"#{tag.aliases[0]} {tag.usage}".strip(), tag.meaning))
        found.append((names, line, effect))
    return tuple(found)


TAG_EXAMPLES = tag_examples()


def parse_commands(text: str, staff_names: Collection[str],
                   partner_names: Sequence[str] = ()) -> tuple[list[Command], list[CommandError]]:
    """Commands in line order (exact repeats dropped) and one error per bad or contradicting line.

    `partner_names`: the names of [partners], the only arguments #teruskan takes."""
    staff = {name.strip().lower() for name in staff_names}
    partners = tuple(name.strip().lower() for name in partner_names)
    commands: list[Command] = []
    errors: list[CommandError] = []
    for number, line in enumerate(text.splitlines(), start=1):
        found = _parse_line(number, line.strip(), staff, partners)
        if isinstance(found, CommandError):
            errors.append(found)
        elif found and all((c.name, c.arg) != (found.name, found.arg) for c in commands):
            errors.extend(_conflicts(found, commands))
            commands.append(found)
    return commands, errors


def strip_tag_lines(text: str) -> str:
    """The text without lines holding a known tag (valid or not), for relaying to the reporter."""
    kept = [line.rstrip() for line in text.splitlines() if _known_tag(line.strip()) is None]
    out: list[str] = []
    for line in kept:
        if line.strip() or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def _split(line: str) -> tuple[str, str] | None:
    """(tag word as written, argument) for a line that is a tag, None for any other line."""
    match = _TAG_LINE.fullmatch(line)
    if not match:
        return None
    word, rest = match["word"], match["rest"]
    if rest and not rest[0].isspace() and not match["sep"]:
        word, _, rest = line[1:].partition(" ")  # e.g. "#tutup/selesai": one unknown word
    return word, re.sub(r"^[:=\-\u2013\u2014\s]+", "", rest).strip()


def _known_tag(line: str) -> Tag | None:
    split = _split(line)
    return _BY_ALIAS.get(split[0].lower()) if split else None


def _parse_line(number: int, line: str, staff: set[str],
                partners: tuple[str, ...] = ()) -> Command | CommandError | None:
    split = _split(line)
    if split is None:
        return None
    word, arg = split
    tag = _BY_ALIAS.get(word.lower())
    if tag is None:
        return CommandError(number, line, _unknown(word))
    if tag.arg == PARTNER:
        value, reason = _partner(word.lower(), arg, partners)
    else:
        value, reason = _argument(tag, word.lower(), arg, staff)
    return CommandError(number, line, reason) if reason else Command(tag.name, value, number, line)


def _unknown(word: str) -> str:
    reason = f"tag tidak dikenal: #{word}"
    close = difflib.get_close_matches(word.lower(), list(_BY_ALIAS), n=1, cutoff=0.75)
    return f"{reason} (maksud Anda #{close[0]}?)" if close else reason


def _argument(tag: Tag, word: str, arg: str, staff: set[str]) -> tuple[str, str]:
    """(normalised argument, "") or ("", why it is wrong)."""
    if tag.arg == TEXT:
        return arg, ""
    if tag.arg == NO_ARG:
        if arg and arg.lower() not in tag.idioms:
            return "", f"#{word} tidak memakai keterangan, tetapi diikuti \"{arg}\""
        return "", ""
    wanted = " ".join(arg.lower().split()).rstrip(".,;:!")
    if tag.arg == CATEGORY:
        return _category(word, arg, wanted)
    if tag.arg == TICKET:
        return _ticket(word, arg)
    wanted = wanted.lstrip("@").strip("<>")
    if not wanted:
        return "", f"#{word} perlu nama atau alamat e-mail staf"
    if wanted not in staff:
        return "", f"staf tidak dikenal: \"{arg}\"; tulis nama atau alamat e-mail staf yang terdaftar"
    return wanted, ""


def _category(word: str, arg: str, wanted: str) -> tuple[str, str]:
    if not wanted:
        return "", f"#{word} perlu nama kategori: gangguan, permasalahan atau permintaan"
    category = _CATEGORIES.get(wanted)
    if category is None:
        return "", f"kategori tidak dikenal: \"{arg}\"; pilih gangguan, permasalahan atau permintaan"
    return category.value, ""


def _partner(word: str, arg: str, partners: tuple[str, ...]) -> tuple[str, str]:
    """"lkpp mohon dicek" -> "lkpp mohon dicek" (the name lower-case); an unknown name lists the known."""
    name, _, text = arg.partition(" ")
    wanted = name.strip().lower().rstrip(".,;:!")
    known = ", ".join(partners) if partners else "belum ada; operator mengisinya di [partners]"
    if not wanted:
        return "", f"#{word} perlu nama pengelola layanan lain; yang terdaftar: {known}"
    if wanted not in partners:
        return "", f"pengelola layanan lain tidak dikenal: \"{name}\"; yang terdaftar: {known}"
    return f"{wanted} {text.strip()}".strip(), ""


def partner_argument(arg: str) -> tuple[str, str]:
    """A #teruskan argument -> (partner name, the staff member's text on that line)."""
    name, _, text = arg.partition(" ")
    return name, text.strip()


_TICKET_ARG = re.compile(r"\[?\s*(?:[^\W\d_][\w-]*\s*)?#?\s*(\d{1,9})\s*\]?[.,;:!]?")


def _ticket(word: str, arg: str) -> tuple[str, str]:
    """"LPSE#12", "[LPSE#12]", "#12" or "12" -> "12"; the prefix is not checked (the number is)."""
    match = _TICKET_ARG.fullmatch(arg.strip())
    if not match:
        return "", f"#{word} perlu nomor tiket tujuan, misalnya #{word} LPSE#12"
    return str(int(match[1])), ""


def _conflicts(command: Command, earlier: list[Command]) -> list[CommandError]:
    for other in earlier:
        same_slot = command.name == other.name and command.name in _SINGLE_VALUED
        if same_slot or frozenset((command.name, other.name)) in _CONFLICTS:
            reason = f"bertentangan dengan \"{other.text}\" di baris {other.line}"
            return [CommandError(command.line, command.text, reason)]
    return []
