"""Numbered lists written inside one line ("1. adults 2. ECOG 0-2"): their items are separate requirements.

Every sentence here is written for these tests (no registry text is copied).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from eligibility import nodes as n
from eligibility.api import screen
from eligibility.io.criteria_text import has_inline_list
from eligibility.io.ctgov import StudyRecord, split_criteria
from eligibility.parse import parse_criterion
from eligibility.patient import Patient
from eligibility.trial import load_trial, trial_from_study

AS_OF = date(2026, 6, 1)


def texts(raw: str) -> list[tuple[str, str]]:
    return [(c.kind, c.text) for c in split_criteria(raw)]


@pytest.mark.parametrize(
    ("body", "items"),
    [
        # the line's own marker is 1; the inline 2 continues it, with or without punctuation before it
        (
            "1. Aged 20 to 65 years 2. Diagnosis of type 2 diabetes",
            ["Aged 20 to 65 years", "Diagnosis of type 2 diabetes"],
        ),
        ("1. Adults; 2. ECOG 0-2", ["Adults", "ECOG 0-2"]),
        (
            "1) Adults (2) signed consent (3) body weight over 40 kg",
            ["Adults", "signed consent", "body weight over 40 kg"],
        ),
        (
            "3. Platelets at least 100. 4. Hemoglobin at least 9 g/dL",
            ["Platelets at least 100.", "Hemoglobin at least 9 g/dL"],
        ),
        ("1. Adults aged 18 or more。 2. Written consent", ["Adults aged 18 or more。", "Written consent"]),
        # an inline list opened by "1." and introduced by a lead-in: the lead-in heads its items
        ("- Body weight as follows: 1. over 40 kg; 2. under 150 kg", ["over 40 kg", "under 150 kg"]),
    ],
)
def test_inline_numbered_items_become_separate_criteria(body: str, items: list[str]) -> None:
    assert texts(f"Inclusion Criteria:\n{body}\n") == [("inclusion", t) for t in items]


@pytest.mark.parametrize(
    "body",
    [
        "1. ECOG 0, 1 or 2. Able to swallow tablets",  # "or 2." is a value
        "1. Neuropathy of grade 2. Patients who recovered are eligible",  # "grade 2." is a value
        "1. Hemoglobin at least 9 2. Platelets at least 100",  # after a number: a value, not split
        "1. Platelets at least 100 (see 2. below for the units)",  # inside brackets
        "2. Adults 4. Signed consent",  # 4 does not follow 2
        "1. Creatinine at most 1.5 x ULN",
        "a. Adults 2. Signed consent",  # letter-marked line: no number to continue
    ],
)
def test_numbers_that_are_not_list_markers_stay_in_the_text(body: str) -> None:
    assert len(texts(f"Inclusion Criteria:\n{body}\n")) == 1


def test_inline_number_continuing_the_parent_list_is_the_parents_sibling() -> None:
    raw = (
        "Inclusion Criteria:\n"
        "1. Adequate organ function as follows:\n"
        "   1. Bilirubin at most 1.5 x ULN\n"
        "   2. Creatinine at most 1.5 mg/dL; 2. Signed consent\n"
    )
    crits = split_criteria(raw)
    assert [c.text for c in crits] == ["Bilirubin at most 1.5 x ULN", "Creatinine at most 1.5 mg/dL", "Signed consent"]
    assert crits[1].headings == ("Adequate organ function as follows",)
    assert crits[2].headings == ()  # it continues the outer list: not under the organ-function heading


def test_an_item_before_an_inline_number_keeps_its_sub_items() -> None:
    raw = "Inclusion Criteria:\n1. Adults 2. One of the following:\n   - asthma\n   - COPD\n"
    crits = split_criteria(raw)
    assert [c.text for c in crits] == ["Adults", "asthma", "COPD"]
    assert crits[1].headings == ("One of the following",)


def test_split_pieces_keep_their_offsets() -> None:
    raw = "Exclusion Criteria:\n1. Pregnancy; 2. Active hepatitis B\n"
    for crit in split_criteria(raw):
        assert "".join(raw[o] for o in crit.offsets) == crit.text


@pytest.mark.parametrize(
    "body",
    [
        # alternatives: "or" before a marker, so the items are not separate requirements
        "- Shows one sign: 1) a fall in the last year, or 2) slow gait",
        # an intro that holds items of its own (letter and roman markers): where the list belongs is not known
        "- a. Cohort A i. prior surgery ii. any of the following: 1. asthma 2. COPD",
    ],
)
def test_an_inline_list_that_cannot_be_split_soundly_is_unknown(body: str) -> None:
    crits = split_criteria(f"Inclusion Criteria:\n{body}\n")
    assert len(crits) == 1
    rule = parse_criterion(crits[0].text, "inclusion")
    assert isinstance(rule, n.Unparsed) and "numbered list" in rule.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1. adults; 2. ECOG 0-2", True),
        ("Age 18 to 70 years (1) consent (2) weight over 40 kg", True),
        ("Age 18 to 70 years 2. Diagnosis of asthma", False),  # one marker: the splitter decides, with context
        ("ECOG 0, 1 or 2. Able to walk", False),
        ("RECIST 1.1 measurable disease", False),
    ],
)
def test_has_inline_list(text: str, expected: bool) -> None:
    assert has_inline_list(text) is expected


def test_inline_items_are_all_required_in_a_screened_trial(tmp_path: Path) -> None:
    """The audit's case: age and diagnosis on one line were joined by "or", so age alone passed."""
    path = tmp_path / "t.txt"
    path.write_text("Inclusion Criteria:\n1. Aged 18-70 years 2. Diagnosis of asthma or COPD\n", encoding="utf-8")
    trial = load_trial(path)
    rules = [c.rule for c in trial.criteria if c.source == "parsed"]
    assert len(rules) == 2
    assert not any(isinstance(x, n.Or) and any(isinstance(y, n.Age) for y in x.items) for r in rules for x in n.walk(r))


@pytest.mark.parametrize(
    ("kind", "heading"),
    [
        ("inclusion", "At least two of the following:"),
        ("inclusion", "Two or more of the following risk factors:"),
        ("inclusion", "Meets 3 of the following:"),
        ("exclusion", "At least two of the following:"),
        ("exclusion", "Two or more of the following:"),
    ],
)
def test_several_of_the_following_never_decides_on_one_item(kind: str, heading: str) -> None:
    """One item of "at least two of" neither meets the group nor, in an exclusion, excludes alone."""
    header = "Inclusion Criteria:" if kind == "inclusion" else "Inclusion Criteria:\n- Adults\nExclusion Criteria:"
    text = f"{header}\n- {heading}\n  - asthma\n  - type 2 diabetes\n  - hypertension\n"
    trial = trial_from_study(StudyRecord(nct_id="NCT00000000", criteria_text=text))
    only_asthma = Patient.model_validate(
        {
            "id": "p",
            "birth_date": "1980-01-01",
            "sex": "female",
            "conditions": [{"system": "icd10cm", "code": "J45.909", "onset": "2020-01-01"}],
        }
    )
    prefix = "I" if kind == "inclusion" else "E"
    rows = [c for c in screen(trial, only_asthma, as_of=AS_OF).criteria if c.id.startswith(prefix)]
    asthma = next(c for c in rows if "asthma" in c.text)
    assert asthma.status == "unknown"  # asthma alone neither meets nor excludes
    statuses = {c.status for c in rows}
    # the absent ones do not fail it; in an exclusion an item whose condition is absent (type 2 diabetes, closed
    # world) may say it does not exclude, which leaves the group to the others
    assert statuses == {"unknown"} if kind == "inclusion" else statuses <= {"unknown", "pass"}
