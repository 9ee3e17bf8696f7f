"""Document structure: headers seen in the wild, text no criterion screens, and what headings do to items.

Every sentence here is written for these tests (no registry text is copied).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility.api import screen
from eligibility.io.ctgov import StudyRecord, split_criteria
from eligibility.parse import parse_criterion
from eligibility.patient import ConditionRecord, Patient
from eligibility.render import render
from eligibility.trial import load_trial, trial_from_study

AS_OF = date(2026, 6, 1)


def kinds(text: str) -> list[tuple[str, str]]:
    return [(c.kind, c.text) for c in split_criteria(text)]


@pytest.mark.parametrize(
    ("inc_header", "exc_header"),
    [
        ("Inclusion criteria:", "Exclusion criteria:"),
        ("Inclusion conditions:", "Exclusion conditions:"),
        ("INCLUSION:", "EXCLUSION:"),
        ("Key Inclusion Criteria", "Key Exclusion Criteria"),
        ("Criteria for inclusion:", "Criteria for exclusion:"),
        ("Inclsion Critera:", "Exlusion Criteria:"),
        ("Included:", "Excluded:"),
        ("## Inclusion requirements", "## Exclusion factors"),
        ("1. Inclusion criteria", "2. Exclusion criteria"),
        ("Eligibility requirements:", "Non-inclusion criteria:"),
        ("Patients must have:", "Subjects will not be enrolled if they have:"),
        ("Subjects are eligible if:", "Subjects will be excluded if they have any of the following:"),
        ("Inclusion criteria:", "The following patients will be excluded:"),
    ],
)
def test_headers_seen_in_the_wild_set_the_kind(inc_header: str, exc_header: str) -> None:
    text = f"{inc_header}\n- Age 20 to 60 years\n- Body weight at least 40 kg\n{exc_header}\n- Pregnancy\n"
    assert [k for k, _ in kinds(text)] == ["inclusion", "inclusion", "exclusion"]


def test_a_combined_header_announces_its_sub_headers_and_is_not_a_criterion() -> None:
    text = "Inclusion and Exclusion Criteria\nInclusion:\n- Age 20 to 60 years\nExclusion:\n- Pregnancy\n"
    assert kinds(text) == [("inclusion", "Age 20 to 60 years"), ("exclusion", "Pregnancy")]


@pytest.mark.parametrize(
    "line",
    [
        "Conclusion:",  # a word close to "inclusion" is not a header
        "Other protocol-defined inclusion/exclusion criteria may apply",
        "Patients who meet the inclusion criteria of the parent study and have signed consent",
    ],
)
def test_near_misses_are_not_headers(line: str) -> None:
    text = f"Inclusion criteria:\n- Age 20 to 60 years\n{line}\n- Pregnancy\n"
    assert kinds(text)[-1][0] == "inclusion"


def _female(**extra: object) -> Patient:
    return _person("female", "1980-01-01", **extra)


def _person(sex: str, birth: str, **extra: object) -> Patient:
    return Patient.model_validate({"id": sex[0], "birth_date": birth, "sex": sex, **extra})


def _lab(concept: str, value: float, unit: str) -> dict[str, object]:
    return {"concept": concept, "value": value, "unit": unit, "effective": "2026-05-20"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no eligibility criteria text"),
        ("   \n", "no eligibility criteria text"),
        ("- Age 20 to 60 years\n- Pregnancy\n", "outside an inclusion or exclusion section"),
        ("Criteria:\nAge 20 to 60 years\n", "outside an inclusion or exclusion section"),
        ("Study population:\n- Adults aged 20 to 60 years\n", "outside an inclusion or exclusion section"),
    ],
)
def test_unscreened_text_is_never_eligible_and_is_named(text: str, reason: str) -> None:
    trial = trial_from_study(StudyRecord(nct_id="NCT00000001", criteria_text=text))
    assert trial.unscreened
    result = screen(trial, _female(), as_of=AS_OF)
    assert result.verdict == "needs-review"
    assert any(reason in note for note in result.notes), result.notes
    body = text.strip().splitlines()[-1].lstrip("- ") if text.strip() else ""
    assert not body or any(body in note for note in result.notes)


def test_text_before_the_first_header_is_named_while_the_rest_screens() -> None:
    text = "Adults with a stable home address\nInclusion criteria:\n- Age 20 to 60 years\n"
    trial = trial_from_study(StudyRecord(nct_id="NCT00000002", criteria_text=text))
    assert [c.id for c in trial.criteria] == ["I1"]
    result = screen(trial, _female(), as_of=AS_OF)
    assert [c.status for c in result.criteria] == ["pass"]
    assert result.verdict == "needs-review"
    assert any("stable home address" in note for note in result.notes)


def test_a_fully_screened_trial_can_still_be_eligible() -> None:
    text = "Inclusion criteria:\n- Age 20 to 60 years\nExclusion criteria:\n- Pregnancy\n"
    trial = trial_from_study(StudyRecord(nct_id="NCT00000003", criteria_text=text))
    assert not trial.unscreened
    assert screen(trial, _female(), as_of=AS_OF).verdict == "eligible"


def test_plain_text_criteria_files_screen_from_the_command_line(tmp_path: Path) -> None:
    doc = tmp_path / "trial.txt"
    doc.write_text("- Age 20 to 60 years\n")
    trial = load_trial(doc)
    assert trial.unscreened and not trial.criteria
    assert screen(trial, _female(), as_of=AS_OF).verdict == "needs-review"


# ---- headings over items ------------------------------------------------------------------------------


def _statuses(text: str, patient: Patient) -> dict[str, str]:
    trial = trial_from_study(StudyRecord(nct_id="NCT00000004", criteria_text=text))
    return {c.id: c.status for c in screen(trial, patient, as_of=AS_OF).criteria}


def _cardiac() -> Patient:
    return _female(conditions=[ConditionRecord(concept="heart_failure", onset=date(2015, 1, 1))])


ANY_OF = "Inclusion criteria:\n- At least one of the following:\n  - Heart failure\n  - Atrial fibrillation\n"


def test_one_of_the_following_never_fails_an_item_alone() -> None:
    got = _statuses(ANY_OF, _cardiac())
    assert got == {"I1": "pass", "I2": "unknown"}
    # Read alone, "Atrial fibrillation" would fail a patient who meets the group by heart failure.
    assert "fail" not in _statuses(ANY_OF, _female()).values()


def test_a_heading_that_says_who_is_a_requirement_not_a_topic() -> None:
    """'Transplant candidates with one or more of the following:' requires candidacy: one item met is not enough."""
    text = "Inclusion criteria:\n- Liver transplant candidates with one or more of the following:\n  - Heart failure\n"
    assert _statuses(text, _cardiac())["I1"] == "unknown"
    topic = "Inclusion criteria:\n- Comorbidities (one or more of the following):\n  - Heart failure\n"
    assert _statuses(topic, _cardiac())["I1"] == "pass"  # a topic label adds nothing of its own


def test_a_heading_that_both_counts_and_negates_decides_no_item() -> None:
    """'... had other causes excluded ... and has at least two of the following:' is not 'must not have'."""
    text = (
        "Inclusion criteria:\n- The syndrome exists when other causes were excluded and the child has at least two"
        " of the following:\n  - Heart failure\n  - Atrial fibrillation\n"
    )
    assert set(_statuses(text, _cardiac()).values()) == {"unknown"}
    assert set(_statuses(text, _female()).values()) == {"unknown"}


def test_a_negated_lead_in_negates_its_items() -> None:
    text = "Inclusion criteria:\n- Must not have any of the following:\n  - Heart failure\n  - Atrial fibrillation\n"
    assert _statuses(text, _cardiac())["I1"] == "fail"
    assert "fail" not in _statuses(text, _female()).values()


def test_examples_decide_when_on_record_and_never_by_their_absence() -> None:
    text = "Exclusion criteria:\n- Cardiac conditions such as:\n  - Heart failure\n  - Atrial fibrillation\n"
    assert _statuses(text, _cardiac())["E1"] == "fail"
    assert set(_statuses(text, _female()).values()) == {"unknown"}


def test_a_group_heading_scopes_inclusion_items_to_its_members() -> None:
    text = "Inclusion criteria:\n- Women:\n  - Hemoglobin at least 11 g/dL\n"
    man = _person("male", "1980-01-01", observations=[_lab("hemoglobin", 9, "g/dL")])
    woman = _female(observations=[_lab("hemoglobin", 9, "g/dL")])
    assert _statuses(text, woman)["I1"] == "fail"
    assert _statuses(text, man)["I1"] != "fail"


def test_an_exception_heading_leaves_its_items_and_the_criterion_above_for_review() -> None:
    text = (
        "Exclusion criteria:\n- Heart failure\n"
        "Patients with heart failure will not be excluded if:\n  - Platelet count at least 100 x 10^9/L\n"
    )
    got = _statuses(text, _cardiac())
    assert got["E1"] != "fail" and got["E2"] == "unknown"


# ---- properties ------------------------------------------------------------------------------------------

_READABLE = ["Age 20 to 60 years", "Body weight at least 40 kg", "Female"]
_UNREAD = ["Able to swim fifty metres", "Willing to keep a diary", "Lives within reach of the clinic"]


@settings(max_examples=60, deadline=None)
@given(
    inc=st.lists(st.sampled_from(_READABLE + _UNREAD), min_size=1, max_size=4),
    exc=st.lists(st.sampled_from(["Pregnancy", *_UNREAD]), max_size=3),
    stray=st.one_of(st.none(), st.sampled_from(_UNREAD + _READABLE)),
)
def test_an_unread_or_unscreened_line_never_yields_eligible(inc: list[str], exc: list[str], stray: str | None) -> None:
    text = "Inclusion criteria:\n" + "".join(f"- {x}\n" for x in inc)
    if exc:
        text += "Exclusion criteria:\n" + "".join(f"- {x}\n" for x in exc)
    if stray is not None:
        text = f"{stray}\n" + text
    trial = trial_from_study(StudyRecord(nct_id="NCT00000005", criteria_text=text))
    result = screen(trial, _female(), as_of=AS_OF)
    unread = any(x in _UNREAD for x in inc + exc) or stray is not None
    if unread:
        assert result.verdict != "eligible"
    if stray is not None:
        assert any(stray in note for note in result.notes)
    # Adding one more unread criterion never turns a verdict into "eligible".
    more = trial_from_study(StudyRecord(nct_id="NCT00000005", criteria_text=text + "- Willing to keep a diary\n"))
    assert screen(more, _female(), as_of=AS_OF).verdict != "eligible"


def test_batch_rows_of_a_trial_with_unscreened_text_are_never_eligible(tmp_path: Path) -> None:
    from eligibility.batch import load_registry, run_batch

    (tmp_path / "patients.csv").write_text("patient_id,birth_date,sex\np1,1980-01-01,female\n")
    text = "Adults with a stable home address\nInclusion criteria:\n- Age 20 to 60 years\n"
    trial = trial_from_study(StudyRecord(nct_id="NCT00000006", criteria_text=text))
    reg = load_registry(tmp_path)
    result = run_batch(reg, [trial], AS_OF)
    row = reg.con.execute("SELECT verdict, unscreened FROM result_0").fetchone()
    assert row is not None
    assert row[0] == "needs-review" and "C1" in row[1]
    assert any("stable home address" in note for note in result.notes)


@pytest.mark.parametrize(
    ("text", "exclusion", "inclusion"),
    [
        (
            "Potassium > 5.5 mmol/L; sodium < 130 mmol/L",
            "potassium > 5.5 mmol/L or sodium < 130 mmol/L",
            "potassium > 5.5 mmol/L and sodium < 130 mmol/L",
        ),
        (
            "Platelet count < 50 x 10^9/L; able to swim",
            "platelet count < 50 10^9/L or {able to swim}",
            None,
        ),
    ],
)
def test_semicolons_in_an_exclusion_separate_reasons_to_exclude(
    text: str, exclusion: str, inclusion: str | None
) -> None:
    assert render(parse_criterion(text, "exclusion")) == exclusion
    if inclusion is not None:
        assert render(parse_criterion(text, "inclusion")) == inclusion


@pytest.mark.parametrize(
    ("text", "kind", "must_not_decide"),
    [
        # A pair of values: one comparison cannot stand for systolic/diastolic.
        # Thresholds that depend on the patient's sex.
        ("Hemoglobin below 10 g/dL in women and below 11 g/dL in men", "exclusion", None),
        # An open upper end is not an inclusive range.
        ("Aged 12 to < 16 years", "inclusion", "age between 12 and 16 years"),
        # An item cut out of a phrase ("without ... or kidney disease") is not read alone.
        ("Potassium above 5 mmol/L without heart or kidney disease", "exclusion", "renal impairment"),
        # "or worse" modifies the list.
        ("Liver impairment, grade 2 or worse", "exclusion", "hepatic impairment"),
    ],
)
def test_readings_found_unsound_in_the_audit_stay_unread(text: str, kind: str, must_not_decide: str | None) -> None:
    reading = render(parse_criterion(text, kind))
    if must_not_decide is None:
        assert reading == "{" + text + "}"
    else:
        assert must_not_decide not in reading, reading


def test_liver_failure_is_not_any_liver_disease() -> None:
    rule = parse_criterion("Liver failure", "exclusion")
    fatty_liver = _female(conditions=[ConditionRecord(system="icd10cm", code="K76.0", onset=date(2020, 1, 1))])
    failure = _female(conditions=[ConditionRecord(system="icd10cm", code="K72.10", onset=date(2020, 1, 1))])
    trial = trial_from_study(StudyRecord(nct_id="NCT00000007", criteria_text="Exclusion criteria:\n- Liver failure\n"))
    assert screen(trial, fatty_liver, as_of=AS_OF).criteria[0].status != "fail"
    assert screen(trial, failure, as_of=AS_OF).criteria[0].status == "fail"
    assert "hepatic_failure" in rule.model_dump_json()


def test_an_age_band_heading_is_not_taken_for_a_group_only() -> None:
    """ "Men and women aged 20-60:" over items may be a requirement: a 70-year-old must not pass its items."""
    text = "Inclusion criteria:\n- Men and women aged 20 to 60 years:\n  - Body weight at least 40 kg\n"
    old = _person("female", "1950-01-01", observations=[_lab("weight", 70, "kg")])
    assert _statuses(text, old)["I1"] != "pass"


@pytest.mark.parametrize(
    ("text", "reading"),
    [
        ("Age > = 2 years", "age >= 2 years"),
        ("Age < = 70 years", "age <= 70 years"),
        ("Body weight at least 40 kg OR", "body weight >= 40 kg or {OR}"),
    ],
)
def test_spaced_operators_and_a_dangling_or(text: str, reading: str) -> None:
    assert render(parse_criterion(text, "inclusion")) == reading


def test_parse_names_unscreened_text(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from eligibility.cli import app

    doc = tmp_path / "t.txt"
    doc.write_text("Adults with a stable home address\nInclusion criteria:\n- Age 20 to 60 years\n")
    out = CliRunner().invoke(app, ["parse", "--format", "json", str(doc)])
    assert out.exit_code == 0
    assert json.loads(out.stdout)["unscreened"][0]["text"] == "Adults with a stable home address"


def test_a_must_not_lead_in_inside_the_inclusion_list_negates_without_switching_the_section() -> None:
    text = (
        "Inclusion criteria:\n- Age 20 to 60 years\nPatients must not have:\n  - Heart failure\n"
        "Exclusion criteria:\n- Pregnancy\n"
    )
    assert [k for k, _ in kinds(text)] == ["inclusion", "inclusion", "exclusion"]
    assert _statuses(text, _cardiac())["I2"] == "fail"
    # Items at the lead-in's own level: it may not reach them, so they are never read plainly.
    flat = text.replace("  - Heart failure", "- Heart failure")
    assert _statuses(flat, _cardiac())["I2"] == "unknown"
    # "which include:" is a lead-in, never a switch to the inclusion list.
    text = "Exclusion criteria:\n- Allergy to the study drug or its excipients, which include:\n  - lactose\n"
    assert {k for k, _ in kinds(text)} == {"exclusion"}
