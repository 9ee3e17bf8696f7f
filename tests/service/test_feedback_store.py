"""The feedback store (service/feedback.py) on its own: an answer's cards are stored together, feedback is
taken only for a card issued to the same EHR, an override hides the card's trials for that patient only, and
a state folder's file is shared by a second connection (another worker) while it is open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from eligibility.service.feedback import FeedbackStore

CARDS = [("card-summary", ("NCT1", "NCT2")), ("card-nct1", ("NCT1",)), ("card-nct2", ("NCT2",))]


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FeedbackStore:
    s = FeedbackStore(tmp_path / "feedback.sqlite3" if request.param == "file" else None)
    request.addfinalizer(s.close)
    return s


@pytest.mark.parametrize(
    ("card", "issuer", "stored"),
    [
        ("card-summary", "ehr-a", True),
        ("card-nct2", "ehr-a", True),
        ("card-nct2", "ehr-b", False),  # issued to another EHR
        ("card-never-issued", "ehr-a", False),
    ],
)
def test_feedback_is_taken_only_for_a_card_this_ehr_was_given(
    store: FeedbackStore, card: str, issuer: str, stored: bool
) -> None:
    store.record_cards("ehr-a", "patient-1", CARDS)
    assert store.record_feedback(card, issuer, "overridden", (None, "not-interested"), None) is stored
    assert store.feedback_count() == int(stored)


@pytest.mark.parametrize(
    ("overridden", "patient", "hidden"),
    [
        ("card-summary", "patient-1", {"NCT1", "NCT2"}),
        ("card-nct2", "patient-1", {"NCT2"}),
        ("card-nct2", "patient-2", set()),  # another patient: nothing hidden
    ],
)
def test_an_override_hides_the_cards_trials_for_that_patient(
    store: FeedbackStore, overridden: str, patient: str, hidden: set[str]
) -> None:
    store.record_cards("ehr-a", "patient-1", CARDS)
    store.record_cards("ehr-a", "patient-2", [("card-other", ("NCT3",))])
    store.record_feedback(overridden, "ehr-a", "overridden", (None, None), None)
    assert store.suppressed("ehr-a", patient, 30) == hidden
    assert store.suppressed("ehr-b", patient, 30) == set()


def test_accepted_cards_hide_nothing(store: FeedbackStore) -> None:
    store.record_cards("ehr-a", "patient-1", CARDS)
    assert store.record_feedback("card-summary", "ehr-a", "accepted", (None, None), None)
    assert store.suppressed("ehr-a", "patient-1", 30) == set()


def test_no_cards_is_a_no_op(store: FeedbackStore) -> None:
    store.record_cards("ehr-a", "patient-1", [])
    assert not store.record_feedback("card-summary", "ehr-a", "accepted", (None, None), None)


def test_a_state_folder_store_is_write_ahead_logged_and_seen_by_a_second_connection(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    first, second = FeedbackStore(path), FeedbackStore(path)
    try:
        first.record_cards("ehr-a", "patient-1", CARDS)
        assert second.record_feedback("card-nct1", "ehr-a", "overridden", (None, None), None)
        assert first.suppressed("ehr-a", "patient-1", 30) == {"NCT1"}
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        first.close()
        second.close()
