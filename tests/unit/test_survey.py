"""The satisfaction survey: the rating parser, the decision on a reporter's answer, the IKM letter."""

from __future__ import annotations

import pytest

from mailticket.core.decide import decide
from mailticket.core.effects import Change, Event, Send
from mailticket.core.survey import OutOfScale, Rating, ikm, read_rating
from mailticket.types import Status
from tests.unit.test_decide import DESK, arrival, mail, ticket


@pytest.mark.parametrize(("text", "value", "comment"), [
    ("4", 4, ""), ("4 terima kasih", 4, "terima kasih"), ("empat", 4, ""), ("Empat. Cepat sekali", 4,
    "Cepat sekali"), ("Nilai: 3", 3, ""), ("4/4", 4, ""), ("3 puas", 3, "puas"), ("1\nlama sekali", 1,
    "lama sekali"), ("2, kurang cepat", 2, "kurang cepat"),
])
def test_ratings(text, value, comment):
    assert read_rating(text) == Rating(value, comment)


@pytest.mark.parametrize("text", ["5", "10/10", "lima"])
def test_off_the_scale(text):
    assert isinstance(read_rating(text), OutOfScale)


@pytest.mark.parametrize("text", ["2 dokumen masih gagal diunggah", "Masih error pak", "Terima kasih",
                                  "", "Login sudah bisa, tapi 4 file tidak terunggah"])
def test_not_a_rating(text):
    assert read_rating(text) is None


def test_ikm_letters_follow_the_regulation():
    assert ikm([4, 4, 4, 3]).letter == "A"  # 93.75
    assert (ikm([4, 3, 3, 3]).value, ikm([4, 3, 3, 3]).letter) == (81.25, "B")
    assert (ikm([3]).value, ikm([3]).letter) == (75.0, "C")
    assert (ikm([2, 3]).value, ikm([2, 3]).letter) == (62.5, "D")
    assert ikm([]).count == 0 and ikm([]).letter == ""


def closed_reply(body: str):
    return decide(arrival(mail(body), ticket(Status.CLOSED)), DESK)


@pytest.mark.parametrize("body", ["4", "4 terima kasih", "empat"])
def test_a_rating_is_recorded_and_never_reopens(body):
    decision = closed_reply(body)
    assert decision.label == "rated"
    changes = [dict(e.fields) for e in decision.effects if isinstance(e, Change)]
    assert changes == [{"rating": 4, "rating_comment": "terima kasih" if "terima" in body else None}]
    assert not any(isinstance(e, Send) for e in decision.effects)
    assert not any(isinstance(e, Event) and e.type == "reopened" for e in decision.effects)


def test_a_second_rating_replaces_the_first():
    first, second = closed_reply("2"), closed_reply("4")
    assert [dict(e.fields)["rating"] for e in (*first.effects, *second.effects) if isinstance(e, Change)] == [2, 4]


def test_five_gets_a_note_on_the_scale_and_no_reopen():
    decision = closed_reply("5")
    sends = [e for e in decision.effects if isinstance(e, Send)]
    assert [(s.kind, s.to, dict(s.values)) for s in sends] == [("survey_scale", ("budi@example.co.id",),
                                                               {"value": 5})]
    assert not any(isinstance(e, Change) for e in decision.effects)


def test_a_real_follow_up_still_reopens():
    decision = closed_reply("Masih tidak bisa login, muncul error yang sama.")
    assert decision.label == "reply"
    assert any(isinstance(e, Event) and e.type == "reopened" for e in decision.effects)


def test_a_rating_on_an_open_ticket_is_a_follow_up():
    assert decide(arrival(mail("4"), ticket(Status.OPEN)), DESK).label == "reply"
