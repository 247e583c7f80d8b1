"""commands.parse_commands / strip_tag_lines / VALID_TAGS_HELP on staff replies."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailticket.core.commands import TAG_EXAMPLES, TAGS, VALID_TAGS_HELP, parse_commands, strip_tag_lines
from mailticket.core.reply import new_text
from mailticket.types import Command, CommandError

REPLIES = Path(__file__).resolve().parent.parent / "data" / "replies"
STAFF = ["rina", "sari", "rina.helpdesk@lampungprov.go.id", "Sari.Helpdesk@lampungprov.go.id"]


def reply_text(name: str) -> str:
    message = email.message_from_bytes((REPLIES / name).read_bytes(), policy=email.policy.default)
    parts = [message.get_body(preferencelist=(kind,)) for kind in ("plain", "html")]
    text, html = (part.get_content() if part is not None else "" for part in parts)
    return new_text(text, html)


def one(text: str) -> Command:
    commands, errors = parse_commands(text, STAFF)
    assert errors == []
    assert len(commands) == 1
    return commands[0]


def error(text: str) -> CommandError:
    commands, errors = parse_commands(text, STAFF)
    assert commands == []
    assert len(errors) == 1
    return errors[0]


# --- every tag and alias -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("#tutup", "close"),
        ("#selesai", "close"),
        ("#close", "close"),
        ("#eskalasi", "escalate"),
        ("#escalate", "escalate"),
        ("#ambil", "take"),
        ("#take", "take"),
        ("#catatan", "note"),
        ("#note", "note"),
        ("#tunggu", "wait"),
        ("#wait", "wait"),
        ("#buka", "reopen"),
        ("#reopen", "reopen"),
        ("#TUTUP", "close"),
        ("  #Selesai  ", "close"),
        ("\t#Close\t", "close"),
        ("#tutup.", "close"),
        ("#catatan:", "note"),
    ],
)
def test_tags_without_argument(line: str, name: str) -> None:
    command = one(line)
    assert (command.name, command.arg, command.line, command.text) == (name, "", 1, line.strip())


@pytest.mark.parametrize(
    ("line", "category"),
    [
        ("#kategori gangguan", "gangguan"),
        ("#category incident", "gangguan"),
        ("#kategori permasalahan", "permasalahan"),
        ("#Category Problem", "permasalahan"),
        ("#kategori permintaan", "permintaan"),
        ("#kategori permintaan layanan", "permintaan"),
        ("#kategori Permintaan   Layanan.", "permintaan"),
        ("#category request", "permintaan"),
        ("#category service request", "permintaan"),
        ("#kategori: gangguan", "gangguan"),
        ("#kategori:gangguan", "gangguan"),
        ("#kategori = gangguan", "gangguan"),
    ],
)
def test_category_is_canonical(line: str, category: str) -> None:
    command = one(line)
    assert (command.name, command.arg) == ("category", category)


@pytest.mark.parametrize(
    ("line", "who"),
    [
        ("#tugaskan sari", "sari"),
        ("#tugaskan Sari", "sari"),
        ("#assign RINA", "rina"),
        ("#tugaskan rina.helpdesk@lampungprov.go.id", "rina.helpdesk@lampungprov.go.id"),
        ("#assign sari.helpdesk@LAMPUNGPROV.go.id", "sari.helpdesk@lampungprov.go.id"),
        ("#tugaskan <rina.helpdesk@lampungprov.go.id>", "rina.helpdesk@lampungprov.go.id"),
        ("#tugaskan @sari", "sari"),
        ("#tugaskan: sari.", "sari"),
    ],
)
def test_assign_to_known_staff(line: str, who: str) -> None:
    command = one(line)
    assert (command.name, command.arg) == ("assign", who)


@pytest.mark.parametrize(
    ("line", "name", "arg"),
    [
        ("#eskalasi server SPSE mati total", "escalate", "server SPSE mati total"),
        ("#escalate: needs the data centre", "escalate", "needs the data centre"),
        ("#catatan pelapor sudah ditelepon", "note", "pelapor sudah ditelepon"),
        ("#note !penting: cek lagi besok", "note", "!penting: cek lagi besok"),
        ("#tunggu balasan pelapor", "wait", "balasan pelapor"),
        ("#ambil alih", "take", ""),
        ("#buka kembali", "reopen", ""),
    ],
)
def test_free_text_and_idioms(line: str, name: str, arg: str) -> None:
    command = one(line)
    assert (command.name, command.arg) == (name, arg)


# --- not tags ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "saya akan #tutup nanti",
        "Mohon #kategori dicek ulang.",
        "#1 langkah pertama",
        "#2. langkah kedua",
        "#",
        "# Judul",
        "##tutup",
        "#_tutup",
        "> #tutup",
        "",
    ],
)
def test_not_a_tag(text: str) -> None:
    assert parse_commands(text, STAFF) == ([], [])


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("#xyz", "tag tidak dikenal: #xyz"),
        ("#tutupp", "tag tidak dikenal: #tutupp (maksud Anda #tutup?)"),
        ("#Kategory gangguan", "tag tidak dikenal: #Kategory (maksud Anda #kategori?)"),
        ("#tutup/selesai", "tag tidak dikenal: #tutup/selesai"),
        ("#kategori xyz", 'kategori tidak dikenal: "xyz"; pilih gangguan, permasalahan atau permintaan'),
        ("#kategori", "#kategori perlu nama kategori: gangguan, permasalahan atau permintaan"),
        ("#category", "#category perlu nama kategori: gangguan, permasalahan atau permintaan"),
        ("#tugaskan nobody",
         'staf tidak dikenal: "nobody"; tulis nama atau alamat e-mail staf yang terdaftar'),
        ("#assign", "#assign perlu nama atau alamat e-mail staf"),
        ("#tutup sekarang", '#tutup tidak memakai keterangan, tetapi diikuti "sekarang"'),
        ("#selesai LPSE#12", '#selesai tidak memakai keterangan, tetapi diikuti "LPSE#12"'),
        ("#ambil tiket ini", '#ambil tidak memakai keterangan, tetapi diikuti "tiket ini"'),
        ("#reopen now", '#reopen tidak memakai keterangan, tetapi diikuti "now"'),
    ],
)
def test_errors_say_why(line: str, reason: str) -> None:
    found = error(f"Halo,\n{line}\n")
    assert (found.line, found.text, found.reason) == (2, line, reason)


def test_contradicting_tags_are_errors() -> None:
    commands, errors = parse_commands("#tutup\nteks\n#buka\n#kategori gangguan\n#kategori permintaan", STAFF)
    assert [c.name for c in commands] == ["close", "reopen", "category", "category"]
    assert [(e.line, e.reason) for e in errors] == [
        (3, 'bertentangan dengan "#tutup" di baris 1'),
        (5, 'bertentangan dengan "#kategori gangguan" di baris 4'),
    ]


@pytest.mark.parametrize("text", ["#ambil\n#tugaskan sari", "#close\n#wait", "#tugaskan rina\n#assign sari",
                                  "#tutup\n#spam", "#spam\n#tutup", "#tutup\n#gabung LPSE#9", "#gabung LPSE#9\n#spam",
                                  "#spam\n#buka", "#gabung LPSE#9\n#tunggu"])
def test_more_contradictions(text: str) -> None:
    _, errors = parse_commands(text, STAFF)
    assert [e.line for e in errors] == [2]


def test_repeated_tag_counts_once() -> None:
    commands, errors = parse_commands("#tutup\n#selesai\n#kategori gangguan\n#category incident", STAFF)
    assert errors == []
    assert [(c.name, c.arg, c.line) for c in commands] == [("close", "", 1), ("category", "gangguan", 3)]


def test_two_tags_and_line_numbers() -> None:
    text = "\n  #kategori gangguan\n\n#tugaskan sari  \nBapak Bagus, laporan sedang kami periksa."
    commands, errors = parse_commands(text, STAFF)
    assert errors == []
    assert commands == [
        Command("category", "gangguan", 2, "#kategori gangguan"),
        Command("assign", "sari", 4, "#tugaskan sari"),
    ]


def test_staff_names_compared_case_insensitively_and_needed() -> None:
    assert one("#tugaskan sari.helpdesk@lampungprov.go.id").arg == "sari.helpdesk@lampungprov.go.id"
    assert parse_commands("#tugaskan sari", [])[1][0].reason.startswith("staf tidak dikenal")


# --- fixtures: new text of real client formats -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gmail_id.eml", [("category", "permasalahan"), ("assign", "sari")]),
        ("gmail_en.eml", [("close", "")]),
        ("outlook_id.eml", [("wait", "konfirmasi dari pelapor")]),
        (
            "outlook_en.eml",
            [
                ("escalate", "SPSE server unreachable from the vendor side, needs the data centre team"),
                ("note", "Called the reporter at 10:30, he confirmed the error."),
            ],
        ),
        ("yahoo_html_only.eml", [("close", "")]),
        ("zimbra_id.eml", [("take", ""), ("category", "permintaan")]),
        ("iphone_id.eml", [("reopen", "")]),
        ("iphone_en.eml", [("reopen", "")]),
        ("prose_lookalikes.eml", []),
    ],
)
def test_fixture_commands(name: str, expected: list[tuple[str, str]]) -> None:
    commands, errors = parse_commands(reply_text(name), STAFF)
    assert errors == []
    assert [(c.name, c.arg) for c in commands] == expected


def test_fixture_with_unknown_tag_and_invalid_arguments() -> None:
    commands, errors = parse_commands(reply_text("invalid_tags.eml"), STAFF)
    assert commands == []
    assert [(e.line, e.text) for e in errors] == [
        (1, "#tutupp"),
        (2, "#kategori xyz"),
        (3, "#tugaskan nobody"),
        (4, "#kategori"),
        (5, "#tutup sekarang"),
    ]
    assert errors[0].reason.startswith("tag tidak dikenal")


# --- help and relay ----------------------------------------------------------------------------


def test_help_names_every_tag_and_is_itself_no_command() -> None:
    for tag in ["#tutup", "#selesai", "#close", "#eskalasi", "#escalate", "#kategori", "#category",
                "#tugaskan", "#assign", "#ambil", "#take", "#catatan", "#note", "#tunggu", "#wait",
                "#buka", "#reopen", "gangguan", "permasalahan", "permintaan", "#gabung", "#merge", "#daftar",
                "#list", "#bantuan", "#help"]:
        assert tag in VALID_TAGS_HELP
    assert len(VALID_TAGS_HELP.splitlines()) == 1 + len(TAGS)  # a heading, then one line per tag
    # quoted back without ">" by some client, the help must not turn into commands or errors
    assert parse_commands(VALID_TAGS_HELP, STAFF) == ([], [])


def test_strip_tag_lines_keeps_the_message() -> None:
    text = (
        "#kategori gangguan\n#Tugaskan sari\n\nBapak Bagus, laporan Bapak kami periksa.\n"
        "#1 langkah pertama\nsaya akan #tutup nanti\n#eskalasi butuh tim server\n\n\nRina"
    )
    assert strip_tag_lines(text) == (
        "Bapak Bagus, laporan Bapak kami periksa.\n#1 langkah pertama\nsaya akan #tutup nanti\n\nRina"
    )


def test_strip_tag_lines_on_a_fixture() -> None:
    assert strip_tag_lines(reply_text("zimbra_id.eml")) == (
        "Bapak Budi, permohonan pembuatan akun sudah kami terima dan sedang diproses.\n\nRina"
    )


# --- properties --------------------------------------------------------------------------------

_LINES = st.one_of(
    st.sampled_from(
        ["#tutup", "#kategori gangguan", "#kategori x", "#xyz", "#1 a", "teks", "", "#assign sari", "#buka"]
    ),
    st.text(alphabet="#abtu kzé1:.-", max_size=20),
)


@given(st.lists(_LINES, max_size=10))
def test_every_result_points_at_a_hash_line(lines: list[str]) -> None:
    text = "\n".join(lines)
    commands, errors = parse_commands(text, STAFF)
    numbered = dict(enumerate(text.splitlines(), start=1))
    for found in [*commands, *errors]:
        assert numbered[found.line].strip() == found.text
        assert found.text.startswith("#")
    stripped = strip_tag_lines(text)
    assert parse_commands(stripped, STAFF)[0] == []


# --- issue 14: #gabung, #daftar, #bantuan ------------------------------------------------------------


@pytest.mark.parametrize("line", ["#gabung LPSE#12", "#merge [LPSE#12]", "#gabung lpse # 12", "#gabung #12",
                                  "#gabung 12", "#Gabung: LPSE#12."])
def test_merge_takes_a_ticket_number(line) -> None:
    assert parse_commands(line, STAFF) == ([Command("merge", "12", 1, line.strip())], [])


@pytest.mark.parametrize("line", ["#gabung", "#gabung tiket Budi", "#merge LPSE#"])
def test_merge_without_a_number_is_an_error(line) -> None:
    commands, errors = parse_commands(line, STAFF)
    assert commands == [] and "perlu nomor tiket tujuan" in errors[0].reason


def test_two_merge_targets_contradict() -> None:
    _commands, errors = parse_commands("#gabung LPSE#3\n#gabung LPSE#4", STAFF)
    assert [e.line for e in errors] == [2]


@pytest.mark.parametrize(("line", "name"), [("#daftar", "list"), ("#list", "list"), ("#bantuan", "help"),
                                            ("#help", "help")])
def test_asking_tags(line, name) -> None:
    assert parse_commands(line, STAFF)[0] == [Command(name, "", 1, line)]


def test_every_tag_has_an_example_that_is_no_command() -> None:
    assert [names for names, _line, _effect in TAG_EXAMPLES] == [
        " / ".join(f"#{a}" for a in tag.aliases) for tag in TAGS]
    assert parse_commands("\n".join(f"contoh: {line}" for _n, line, _e in TAG_EXAMPLES), STAFF) == ([], [])
