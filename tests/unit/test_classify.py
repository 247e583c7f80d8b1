"""classify: the shipped rules on our own short reports, the rule engine on small inline rules,
and bad rule files raising ConfigError that names file and rule."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from mailticket.core import classify as engine
from mailticket.core.classify import Rules, compile_rules, normalise
from mailticket.errors import ConfigError
from mailticket.types import Category, Classification

ROOT = Path(__file__).resolve().parents[2]
REPORTS = tomllib.loads((ROOT / "tests/data/classify/reports.toml").read_text(encoding="utf-8"))["case"]


# The tests read a mail as (subject, text); the pipeline scans each mail once and hands the Scan on.
def classify(subject: str, text: str, rules: Rules, default: Category) -> Classification:
    return engine.classify(engine.scan(subject, text, rules), rules, default)


def spam_reason(subject: str, text: str, rules: Rules) -> str | None:
    return engine.spam_reason(engine.scan(subject, text, rules), rules)


def topics(subject: str, text: str, rules: Rules) -> tuple[str, ...]:
    return engine.topics(engine.scan(subject, text, rules), rules)


def verdict(subject: str, text: str, rules: Rules) -> str:
    """spam, review (default category, needs review) or the category the rules chose."""
    if spam_reason(subject, text, rules):
        return "spam"
    result = classify(subject, text, rules, Category.PERMINTAAN)
    return "review" if result.needs_review else result.category.value


# ---------------------------------------------------------------- the shipped rules


def test_shipped_rules_compile_with_every_section(shipped: Rules) -> None:
    assert len(shipped.rules) >= 10 and len(shipped.spam) >= 5
    assert {t.name for t in shipped.topics} >= {"registration"}
    assert {r.weights[0][0] for r in shipped.rules} == {c.value for c in Category}
    assert [g.category for g in shipped.gates] == ["permasalahan"]


@pytest.mark.parametrize("case", REPORTS, ids=[c["id"] for c in REPORTS])
def test_own_reports(case: dict[str, Any], shipped: Rules) -> None:
    assert verdict(case["subject"], case["text"], shipped) == case["expect"]
    found = set(topics(case["subject"], case["text"], shipped))
    assert set(case.get("topics", [])) <= found
    assert not set(case.get("no_topics", [])) & found


SHORT = tomllib.loads((ROOT / "tests/data/classify/short.toml").read_text(encoding="utf-8"))["case"]


@pytest.mark.parametrize("case", SHORT, ids=[c["id"] for c in SHORT])
def test_short_mails_get_the_right_category(case: dict[str, Any], shipped: Rules) -> None:
    assert classify(case["subject"], case["text"], shipped, Category.PERMINTAAN).category.value == case["expect"]


def test_own_reports_cover_every_outcome() -> None:
    assert {c["expect"] for c in REPORTS} == {"gangguan", "permasalahan", "permintaan", "spam", "review"}
    assert len(REPORTS) >= 30


@pytest.mark.parametrize("text", [
    "gk bisa login ke spse", "gak bisa login dari tadi", "nggak bisa upload file", "tdk bisa masuk aplikasi",
    "tidak dapat mengakses halaman", "gabisa buka menu paket", "aplikasinya lemot banget", "server down lagi",
    "muncul error 503", "kenapa gagal terus ya",
])
def test_informal_and_formal_faults_are_gangguan(text: str, shipped: Rules) -> None:
    assert classify("", text, shipped, Category.PERMINTAAN).category is Category.GANGGUAN


@pytest.mark.parametrize("text", [
    "upload penawaran gagal terus, batas akhir hari ini jam 16.00",
    "tidak bisa simpan evaluasi, penetapan pemenang harus besok",
    "error saat kirim undangan, undangan harus dikirim hari ini",
])
def test_a_fault_blocking_a_deadline_today_or_tomorrow_is_permasalahan(text: str, shipped: Rules) -> None:
    assert classify("", text, shipped, Category.PERMINTAAN).category is Category.PERMASALAHAN


@pytest.mark.parametrize("text", [
    "upload penawaran gagal terus, pemasukan ditutup hari Senin",
    "tombol kirim undangan error, undangan paling lambat Jumat",
    "jadwal pembukaan penawaran di SPSE berbeda dengan adendum, mana yang berlaku?",
    "jadwal sanggah dan pembuktian bentrok pada paket kami",
    "proses tender terhenti di tahap evaluasi",
])
def test_a_weekday_deadline_a_schedule_conflict_or_a_stalled_tender_is_permasalahan(
        text: str, shipped: Rules) -> None:
    assert classify("", text, shipped, Category.PERMINTAAN).category is Category.PERMASALAHAN


@pytest.mark.parametrize("text", [
    "Mohon info, apakah pemasukan penawaran ditutup hari Senin?",  # a deadline, but no problem
    "Bagaimana cara mengubah jadwal tahapan tender?",
])
def test_a_weekday_or_a_schedule_without_a_problem_stays_permintaan(text: str, shipped: Rules) -> None:
    assert classify("", text, shipped, Category.GANGGUAN).category is Category.PERMINTAAN


def test_a_fault_since_a_weekday_is_no_deadline_and_a_mismatch_is_no_stated_lack_of_one(shipped: Rules) -> None:
    since = classify("", "Sejak hari Senin upload penawaran gagal, muncul error 500.", shipped, Category.PERMINTAAN)
    assert since.category is Category.GANGGUAN
    mismatch = classify("", "Jadwal di SPSE tidak sesuai dengan jadwal di dokumen pemilihan.", shipped,
                        Category.PERMINTAAN)
    assert mismatch.category is Category.PERMASALAHAN and "no-deadline" not in mismatch.matched


def test_a_fault_since_this_morning_is_no_deadline(shipped: Rules) -> None:
    text = "Sejak pagi hari ini halaman paket tidak dapat dibuka, muncul error 500."
    assert classify("", text, shipped, Category.PERMINTAAN).category is Category.GANGGUAN


def test_a_stated_lack_of_deadline_keeps_gangguan(shipped: Rules) -> None:
    text = "Tombol simpan error. Ini tidak terkait batas waktu apa pun, hari ini cukup dicatat saja."
    result = classify("", text, shipped, Category.PERMINTAAN)
    assert result.category is Category.GANGGUAN


def test_login_failing_after_a_reset_is_a_fault_not_a_reset_request(shipped: Rules) -> None:
    result = classify("Tidak dapat login setelah reset password", "Password baru ditolak.", shipped,
                      Category.PERMINTAAN)
    assert result.category is Category.GANGGUAN and result.source == "rules"
    assert "reset-did-not-help" in result.matched
    assert classify("Mohon reset password", "Kami lupa password.", shipped,
                    Category.GANGGUAN).category is Category.PERMINTAAN


def test_verification_code_not_received_is_gangguan_even_while_registering(shipped: Rules) -> None:
    text = "Saat pendaftaran penyedia, kode verifikasi belum kami terima di email."
    assert classify("Pendaftaran", text, shipped, Category.PERMINTAAN).category is Category.GANGGUAN


def test_registration_topic_only_when_asking_how_or_what_is_needed(shipped: Rules) -> None:
    assert topics("Pendaftaran penyedia", "Apa saja persyaratannya?", shipped) == ("registration",)
    assert "registration" not in topics("Pendaftaran penyedia", "Formulir tidak bisa dicetak.", shipped)


def test_quoted_helpdesk_text_is_not_classified(shipped: Rules) -> None:
    text = ("Terima kasih, sudah beres.\n\nPada Sen, 2 Nov 2026 Helpdesk menulis:\n"
            "> Server error 503, tidak dapat diakses, mohon tunggu.\n")
    result = classify("Re: laporan", text, shipped, Category.PERMINTAAN)
    assert result.needs_review and "server-error" not in result.matched


# ---------------------------------------------------------------- the engine, on small rules

SMALL: dict[str, Any] = {
    "settings": {"threshold": 2, "subject_factor": 2, "spam_threshold": 3, "max_chars": 200},
    "words": {"not": ["tidak", "gak"], "can": ["bisa", "dapat"], "when": ["hari ini", "besok"]},
    "category": {"permasalahan": {"needs": "gangguan", "needs_min": 2, "needs_own": 2}},
    "rule": [
        {"name": "cannot", "category": "gangguan", "weight": 2, "phrases": ["{not} {can}"]},
        {"name": "slow", "category": "gangguan", "weight": 1, "phrases": ["lambat"], "where": "body"},
        {"name": "due", "category": "permasalahan", "weight": 3, "phrases": ["batas ~2 {when}"]},
        {"name": "upload", "category": "permintaan", "weight": 2, "phrases": ["unggah*"]},
        {"name": "how", "category": "permintaan", "weight": 3, "phrases": ["cara"], "unless": ["gagal"]},
        {"name": "reset-done", "weights": {"gangguan": 1, "permintaan": -2}, "phrases": ["sudah reset"]},
        {"name": "code", "category": "gangguan", "weight": 2, "regex": [r"\bkode [a-z]+\d+\b"],
         "with": ["salah"]},
    ],
    "spam": [
        {"name": "slot", "weight": 4, "phrases": ["slot gacor"]},
        {"name": "report", "weight": -2, "phrases": ["diretas"]},
    ],
    "topic": [{"name": "registration", "phrases": ["daftar"], "with": ["syarat*"]}],
}


@pytest.fixture(scope="module")
def small() -> Rules:
    return compile_rules(SMALL)


def scores(subject: str, text: str, rules: Rules) -> dict[str, float]:
    return dict(classify(subject, text, rules, Category.PERMINTAAN).scores)


def test_word_classes_match_any_entry(small: Rules) -> None:
    assert scores("", "gak dapat", small)["gangguan"] == 2
    assert scores("", "tidak mau", small)["gangguan"] == 0


def test_phrases_match_whole_words_and_prefixes_only_with_a_star(small: Rules) -> None:
    assert scores("", "mengunggah", small)["permintaan"] == 0
    assert scores("", "unggahan", small)["permintaan"] == 2
    assert scores("", "tidakbisa", small)["gangguan"] == 0


def test_a_gap_skips_words_but_never_a_sentence_end(small: Rules) -> None:
    assert scores("", "batas akhir penawaran besok", small)["permasalahan"] == 0  # no fault: gate shut
    assert scores("", "tidak bisa; batas akhir penawaran besok", small)["permasalahan"] > 0
    assert scores("", "tidak bisa; batas akhir kami penawaran besok", small)["permasalahan"] == 0
    assert scores("", "tidak bisa; batas akhir. besok", small)["permasalahan"] == 0
    assert scores("", "tidak bisa; batas 16.00 besok", small)["permasalahan"] > 0  # a time is no sentence end


def test_multi_word_class_entries(small: Rules) -> None:
    assert scores("", "tidak bisa, batas hari ini", small)["permasalahan"] == 5


def test_gate_needs_enough_of_the_other_category(small: Rules) -> None:
    result = classify("", "lambat, batas besok", small, Category.PERMINTAAN)  # gangguan 1 < needs_min 2
    assert dict(result.scores)["permasalahan"] == 0 and "due" not in result.matched


def test_a_subject_match_weighs_subject_factor(small: Rules) -> None:
    assert scores("tidak bisa", "", small)["gangguan"] == 4
    assert scores("tidak bisa", "tidak bisa", small)["gangguan"] == 4  # a rule counts once


def test_where_body_ignores_the_subject(small: Rules) -> None:
    assert scores("lambat", "", small)["gangguan"] == 0
    assert scores("", "lambat", small)["gangguan"] == 1


def test_weights_table_and_negative_weights(small: Rules) -> None:
    got = scores("", "cara unggah, sudah reset", small)
    assert got["permintaan"] == 3 + 2 - 2 and got["gangguan"] == 1


def test_with_and_unless(small: Rules) -> None:
    assert scores("", "kode ab12", small)["gangguan"] == 0
    assert scores("", "kode ab12 salah", small)["gangguan"] == 2
    assert scores("", "cara gagal", small)["permintaan"] == 0


def test_regex_rules_see_normalised_text(small: Rules) -> None:
    assert scores("", "KODE   Ab12 SALAH", small)["gangguan"] == 2


def test_matched_names_strongest_first_and_source(small: Rules) -> None:
    result = classify("cara", "tidak bisa unggah", small, Category.GANGGUAN)
    assert result.category is Category.PERMINTAAN and result.source == "rules" and not result.needs_review
    assert result.matched == ("how", "cannot", "upload")
    assert [c for c, _ in result.scores] == [c.value for c in Category]


def test_below_threshold_or_a_tie_gives_the_default_for_review(small: Rules) -> None:
    weak = classify("", "lambat", small, Category.PERMASALAHAN)
    assert weak.category is Category.PERMASALAHAN and weak.source == "default" and weak.needs_review
    assert weak.matched == ("slow",)
    tie = classify("", "tidak bisa unggah", small, Category.GANGGUAN)
    assert tie.needs_review and tie.category is Category.GANGGUAN


def test_normalising_folds_case_accents_and_stretched_letters(small: Rules) -> None:
    assert normalise("  TIDAK\n\tBisaaa  Café ") == "tidak bisa cafe"
    assert scores("", "GAK BISAAA", small)["gangguan"] == 2


def test_only_the_first_max_chars_are_read(small: Rules) -> None:
    assert scores("", "x " * 120 + "tidak bisa", small)["gangguan"] == 0
    assert scores("", "x " * 80 + "tidak bisa", small)["gangguan"] == 2


@pytest.mark.parametrize("quote", [
    "Pada Sel, 3 Nov 2026 pukul 09.05 Helpdesk <h@x.id> menulis:\n",
    "On Tue, Nov 3, 2026 at 9:05 AM Helpdesk <h@x.id> wrote:\n",
    "-----Original Message-----\n",
    "________________________________\r\n",
    "Dari: Helpdesk <h@x.id>\nDikirim: Kamis, 19 November 2026\n",
])
def test_quoted_messages_are_cut_off(quote: str, small: Rules) -> None:
    assert scores("", f"terima kasih, sudah beres\n\n{quote}tidak bisa login\n", small)["gangguan"] == 0
    assert scores("", f"tidak bisa login\n\n{quote}terima kasih\n", small)["gangguan"] == 2


def test_quote_lines_dropped_and_a_first_line_is_never_a_quote_head(small: Rules) -> None:
    assert scores("", "oke\n> tidak bisa\nsip", small)["gangguan"] == 0
    assert scores("", "Dari: Budi\nDikirim: Senin\ntidak bisa", small)["gangguan"] == 2


def test_spam_reason_names_the_rules_and_counter_evidence_lowers_it(small: Rules) -> None:
    reason = spam_reason("slot gacor", "", small)
    assert reason is not None and "slot" in reason
    assert spam_reason("", "slot gacor", small) is not None
    assert spam_reason("", "slot gacor ditemukan, situs diretas", small) is None
    assert spam_reason("", "tidak bisa login", small) is None


def test_topics_need_their_with_phrase(small: Rules) -> None:
    assert topics("", "cara daftar, apa syaratnya", small) == ("registration",)
    assert topics("", "cara daftar", small) == ()


# ---------------------------------------------------------------- bad rule files


def broken(**changes: Any) -> dict[str, Any]:
    """SMALL with some sections replaced."""
    return {**SMALL, **changes}


def one(**fields: Any) -> dict[str, Any]:
    """SMALL with one [[rule]]: a valid one, with `fields` changed (None removes a key)."""
    entry = {"name": "x", "category": "gangguan", "weight": 1, "phrases": ["a"], **fields}
    return broken(rule=[{k: v for k, v in entry.items() if v is not None}])


@pytest.mark.parametrize(("data", "where", "what"), [
    (broken(rule=[*SMALL["rule"], {"name": "x", "category": "gangguan", "weight": 1, "regex": ["(x"]}]),
     "rules.toml: rule[7].regex[0]", "bad regex"),
    (one(category="lainnya"), "rules.toml: rule[0].category", "needs category"),
    (one(name=None), "rules.toml: rule[0].name", "name"),
    (one(weight="2"), "rules.toml: rule[0].weight", "number"),
    (one(phrases=None), "rules.toml: rule[0].phrases", "needs phrases"),
    (one(phrases=["{nope} a"]), "rules.toml: rule[0].phrases[0]", "no word class"),
    (one(phrases=["a ~2"]), "rules.toml: rule[0].phrases[0]", "gap"),
    (one(phrases=["a ~2 ~3 b"]), "rules.toml: rule[0].phrases[0]", "gap"),
    (one(phrases=["ab*"]), "rules.toml: rule[0].phrases[0]", "prefix"),
    (one(phrases=["--"]), "rules.toml: rule[0].phrases[0]", "no letters"),
    (one(phrases="a"), "rules.toml: rule[0].phrases", "list"),
    (one(unless=[""]), "rules.toml: rule[0].unless", "list"),
    (one(colour=1), "rules.toml: rule[0].colour", "unknown key"),
    (one(where="header"), "rules.toml: rule[0].where", "subject"),
    (one(category=None, weight=None, weights={"gangguan": 1, "x": 2}), "rules.toml: rule[0].weights",
     "weights"),
    (one(weights={"gangguan": 1}), "rules.toml: rule[0].weights", "weights"),
    (broken(rule=[SMALL["rule"][0], SMALL["rule"][0]]), "rules.toml: rule[1].name", "duplicate"),
    (broken(spam=[{"name": "x", "category": "gangguan", "weight": 1, "phrases": ["a"]}]),
     "rules.toml: spam[0].category", "unknown key"),
    (broken(topic={"name": "x"}), "rules.toml: topic", "array of tables"),
    (broken(settings={"threshold": "high"}), "rules.toml: settings.threshold", "number"),
    (broken(settings={"treshold": 2}), "rules.toml: settings.treshold", "unknown key"),
    (broken(words={"not": "tidak"}), "rules.toml: words.not", "list"),
    (broken(words={"not": ["{can}"]}), "rules.toml: words.not[0]", "plain words"),
    (broken(category={"permasalahan": {"needs": "lainnya"}}), "rules.toml: category.permasalahan", "needs"),
    (broken(category={"permasalahan": {"needs": "gangguan", "needs_min": 0}}),
     "rules.toml: category.permasalahan.needs_min", "above 0"),
    (broken(rules=[]), "rules.toml: rules", "unknown section"),
])
def test_bad_rules_name_file_and_rule(data: dict[str, Any], where: str, what: str) -> None:
    with pytest.raises(ConfigError) as caught:
        compile_rules(data)
    assert caught.value.where == where
    assert what in caught.value.what


def test_config_error_names_the_given_source() -> None:
    with pytest.raises(ConfigError, match=r"^/etc/rules\.toml: rule\[0\]\.regex\[0\]: "):
        compile_rules({"rule": [{"name": "r", "category": "gangguan", "weight": 1, "regex": ["["]}]},
                      "/etc/rules.toml")


def test_empty_rules_compile_and_always_give_the_default() -> None:
    result = classify("tidak bisa", "error", compile_rules({}), Category.GANGGUAN)
    assert result.needs_review and result.matched == () and spam_reason("slot", "", compile_rules({})) is None


# ---------------------------------------------------------------- informal writing, weak decisions, signs


@pytest.mark.parametrize(("informal", "formal"), [
    ("email aktivasi gk masuk2", "email aktivasi gk masuk"),
    ("email aktivasi blm nyampe2 dari kmrn", "email aktivasi belum nyampe dari kemarin"),
    ("tlg gk bisaaa login", "tolong tidak bisa login"),
    ("udh coba berkali2 tp msh gagal upload", "sudah coba berkali kali tp masih gagal upload"),
])
def test_informal_writing_is_read_as_the_formal_one(informal: str, formal: str, shipped: Rules) -> None:
    a, b = classify("", informal, shipped, Category.PERMINTAAN), classify("", formal, shipped, Category.PERMINTAAN)
    assert (a.category, a.needs_review, a.scores) == (b.category, b.needs_review, b.scores)


def test_tokens_spell_out_reduplication_and_short_forms() -> None:
    from mailticket.core.phrases import normalise, tokens

    assert tokens("gk masuk2 lama2nya bisaaa") == ["gk", "masuk", "masuk", "lama", "lamanya", "bisa"]
    assert tokens("tlg dicek", {"tlg": "tolong"}) == ["tolong", "dicek"]
    assert tokens("h2o 2x tahun 2026") == ["h2o", "2x", "tahun", "2026"]  # no word said twice
    assert normalise("Masuk2 GK bisaaa") == "masuk masuk gk bisa"


def test_a_spelling_table_applies_to_phrases_too() -> None:
    rules = compile_rules({"spelling": {"tlg": "tolong"},
                           "rule": [{"name": "help", "category": "permintaan", "weight": 3, "phrases": ["tlg bantu"]}]})
    assert dict(classify("", "tolong bantu", rules, Category.GANGGUAN).scores)["permintaan"] == 3
    assert dict(classify("", "tlg bantu", rules, Category.GANGGUAN).scores)["permintaan"] == 3


def test_a_bad_spelling_entry_names_its_key() -> None:
    with pytest.raises(ConfigError, match="spelling"):
        compile_rules({"spelling": {"tlg": "tolong sekali"}})


def test_a_close_or_single_weak_decision_is_marked_for_review(shipped: Rules) -> None:
    close = classify("", "aplikasi error", shipped, Category.PERMINTAAN)  # one weak rule (2 points)
    assert close.category is Category.GANGGUAN and close.source == "rules" and close.needs_review
    clear = classify("", "tidak bisa login ke SPSE sejak pagi, muncul error 500", shipped, Category.PERMINTAAN)
    assert clear.category is Category.GANGGUAN and not clear.needs_review
    rules = compile_rules({"settings": {"margin": 1.5},
                           "rule": [{"name": "a", "category": "gangguan", "weight": 3, "phrases": ["rusak"]},
                                    {"name": "b", "category": "permintaan", "weight": 2, "phrases": ["minta"]}]})
    assert classify("", "rusak, minta tolong", rules, Category.PERMINTAAN).needs_review  # 3 vs 2 < 1.5
    assert not classify("", "rusak", rules, Category.PERMINTAAN).needs_review  # one rule of 3 points


def test_spam_rules_may_ask_for_signs_and_name_what_showed_them() -> None:
    from dataclasses import replace

    rules = compile_rules({"spam": [
        {"name": "creds", "weight": 5, "signs": ["untrusted_link"], "phrases": ["{pw} anda"]},
        {"name": "fake", "weight": 4, "signs": ["lookalike_sender"]}],
        "words": {"pw": ["password", "sandi"]}})
    seen = engine.scan("", "Masukkan password anda", rules)
    assert engine.spam_reason(seen, rules) is None  # no link: no sign
    linked = replace(seen, signs=(("untrusted_link", "evil.example"),))
    assert engine.spam_reason(linked, rules) == "spam rules matched: creds (evil.example) (score 5 >= 4)"
    fake = replace(engine.scan("", "halo", rules), signs=(("lookalike_sender", "From domain x imitates y"),))
    assert "fake (From domain x imitates y)" in (engine.spam_reason(fake, rules) or "")


@pytest.mark.parametrize(("data", "where"), [
    ({"spam": [{"name": "x", "weight": 4, "signs": ["no_such_sign"]}]}, "spam[0].signs[0]"),
    ({"lookalike": {"names": ["go"]}}, "lookalike.names[0]"),
    ({"lookalike": {"brands": []}}, "lookalike.brands"),
    ({"settings": {"margin": -1}}, "settings.margin"),
])
def test_bad_sign_lookalike_and_setting_entries_name_their_key(data: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as err:
        compile_rules(data)
    assert where in str(err.value)
