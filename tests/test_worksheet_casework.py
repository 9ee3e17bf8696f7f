"""The worksheet's screening work without the web: answers as attestations, question ranking and what-if,
contradictions, the re-screen diff, and reviewed rule files."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility.io.ctgov import StudyRecord
from eligibility.library import LibraryTrial, TrialCoverage, TrialLibrary
from eligibility.patient import Observation, Patient
from eligibility.trial import load_rule_file, trial_from_study
from eligibility.web import casework as cw
from eligibility.web.reviews import next_version, write_reviewed

DAY = date(2026, 6, 1)

RULES = """
trial: T-ONE
title: One open question
criteria:
  - id: adult
    kind: inclusion
    text: "Aged 18 or over"
    rule: "age >= 18 years"
  - id: consent
    kind: inclusion
    text: "Able to give written consent"
    rule: review
"""

TWO = """
trial: T-TWO
title: Two open questions
criteria:
  - id: adult
    kind: inclusion
    text: "Aged 18 or over"
    rule: "age >= 18 years"
  - id: travel
    kind: inclusion
    text: "Can travel to the study site weekly"
    rule: review
  - id: consent
    kind: inclusion
    text: "Able to give written consent"
    rule: review
  - id: trial-drug
    kind: exclusion
    text: "Took part in another drug study this year"
    rule: review
"""


@pytest.fixture
def library(tmp_path: Path) -> TrialLibrary:
    (tmp_path / "one.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "two.yaml").write_text(TWO, encoding="utf-8")
    return TrialLibrary.load(tmp_path, cache=False)


ADULT = Patient(id="p-adult", birth_date=date(1980, 3, 3), sex="female")


def answer(criterion: str, text: str, value: str) -> cw.GivenAnswer:
    return cw.GivenAnswer(criterion, text, value, "casey", DAY)  # type: ignore[arg-type]


def test_the_last_open_question_is_settled_by_either_answer(library: TrialLibrary) -> None:
    entry = library.get("T-ONE")
    current = cw.run(library, entry, ADULT, DAY)
    assert current.verdict == "needs-review"
    [q] = cw.ranked_questions(library, entry, ADULT, DAY, [], current)
    assert (q.criterion, q.if_yes, q.if_no, q.settles) == ("consent", "eligible", "ineligible", 2)


@pytest.mark.parametrize(
    ("value", "verdict"), [("yes", "eligible"), ("no", "ineligible"), ("unknown", "needs-review")]
)
def test_answers_decide_only_for_their_trial_and_not_known_decides_nothing(
    library: TrialLibrary, value: str, verdict: str
) -> None:
    given_answer = [answer("consent", "Able to give written consent", value)]
    patient = cw.with_answers(ADULT, "T-ONE", given_answer)
    assert cw.run(library, library.get("T-ONE"), patient, DAY).verdict == verdict
    # the same criterion id in another trial is not decided by it
    other = cw.run(library, library.get("T-TWO"), patient, DAY)
    assert next(c for c in other.criteria if c.id == "consent").status == "unknown"
    assert ("consent" in patient.attestations) == (value != "unknown")


def test_an_exclusion_answered_yes_excludes(library: TrialLibrary) -> None:
    text = "Took part in another drug study this year"
    patient = cw.with_answers(ADULT, "T-TWO", [answer("trial-drug", text, "yes")])
    result = cw.run(library, library.get("T-TWO"), patient, DAY)
    assert result.verdict == "ineligible"
    assert next(c for c in result.criteria if c.id == "trial-drug").status == "fail"


def test_questions_open_in_other_trials_too_come_first(library: TrialLibrary) -> None:
    entry = library.get("T-TWO")
    current = cw.run(library, entry, ADULT, DAY)
    other = cw.run(library, library.get("T-ONE"), ADULT, DAY)
    ranked = cw.ranked_questions(library, entry, ADULT, DAY, [], current, [other])
    assert [q.criterion for q in ranked] == ["consent", "travel", "trial-drug"]
    assert ranked[0].also_open_in == ["T-ONE"] and ranked[1].also_open_in == []
    assert all(q.settles == 1 for q in ranked)  # only the failing answer settles while others stay open


def test_an_answer_the_records_contradict_is_reported(library: TrialLibrary) -> None:
    entry = library.get("T-ONE")
    records_only = cw.run(library, entry, ADULT, DAY)
    found = cw.contradictions(records_only, [answer("adult", "Aged 18 or over", "no"),
                                             answer("consent", "Able to give written consent", "yes")])
    assert list(found) == ["adult"]
    assert found["adult"].records_status == "pass" and "age" in found["adult"].records_explanation


def test_the_rescreen_diff_names_what_changed_and_why(library: TrialLibrary) -> None:
    entry = library.get("T-ONE")
    before = cw.run(library, entry, ADULT, DAY)
    child = ADULT.model_copy(update={"birth_date": date(2015, 1, 1)})
    after = cw.run(library, entry, child, DAY)
    d = cw.diff(before, after, new_data=True, new_answers=False, new_rules=False, new_engine=False)
    assert (d.verdict_before, d.verdict_after) == ("needs-review", "ineligible")
    assert [(c.criterion, c.before, c.after) for c in d.changes] == [("adult", "pass", "fail")]
    assert d.causes == ["new patient data"]


@pytest.mark.parametrize(
    ("version", "bumped"), [("sha256:ab12", "sha256:ab12-r1"), ("sha256:ab12-r1", "sha256:ab12-r2"), ("7", "7-r1")]
)
def test_rule_versions_bump(version: str, bumped: str) -> None:
    assert next_version(version) == bumped


def test_marking_a_reading_wrong_writes_a_loadable_rule_file(library: TrialLibrary, tmp_path: Path) -> None:
    entry = library.get("T-ONE")
    now = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
    updated = write_reviewed(tmp_path, entry, "adult", "wrong", "rhea", 'the protocol says "16 or over"', now)
    assert updated.rule_version == entry.rule_version + "-r1"
    trial = load_rule_file(tmp_path / "reviewed-rules" / "T-ONE.yaml")
    adult = next(c for c in trial.criteria if c.id == "adult")
    assert adult.coverage == "none" and '"16 or over"' in (adult.note or "")
    assert any("marked wrong by rhea" in n for n in trial.notes)
    assert cw.run(library, updated, ADULT, DAY).criteria[0].status == "unknown"


UNSCREENED_TEXT = (
    "Patients are seen at the clinic.\n\nInclusion Criteria:\n\n* Age 18 years or older\n"
    "* Platelet count above 50 x 10^9/L\n\nExclusion Criteria:\n\n* Pregnancy\n"
)


@settings(max_examples=30, deadline=None)
@given(
    born=st.dates(min_value=date(1930, 1, 1), max_value=date(2020, 1, 1)),
    platelets=st.floats(min_value=5, max_value=600),
    sex=st.sampled_from(["male", "female"]),
)
def test_a_reviewed_trial_is_never_easier_to_call_eligible(born: date, platelets: float, sex: str) -> None:
    import tempfile

    trial = trial_from_study(StudyRecord(nct_id="NCT-U", criteria_text=UNSCREENED_TEXT))
    entry = LibraryTrial(id=trial.id, title="", conditions=[], source="x", rule_version="v1", trial=trial,
                         coverage=TrialCoverage.of(trial))
    with tempfile.TemporaryDirectory() as tmp:
        reviewed = write_reviewed(Path(tmp), entry, "I1", "confirm", "rhea", "", datetime.now(UTC))
    lib = TrialLibrary([entry])
    patient = Patient(
        id="p", birth_date=born, sex=sex,
        observations=(Observation(concept="platelets", value=platelets, unit="10^9/L", effective=DAY),),
    )
    before = cw.run(lib, entry, patient, DAY).verdict
    after = cw.run(lib, reviewed, patient, DAY).verdict
    assert after != "eligible"  # the unscreened preamble stays a question for a person
    if before == "ineligible":
        assert after == "ineligible"
