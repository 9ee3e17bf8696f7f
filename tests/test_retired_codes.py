"""ICD-10-CM codes outside the FY2026 tabular list that older charts carry are matched as their successors."""

from __future__ import annotations

from datetime import date
from importlib import resources

import pytest
import simple_icd_10_cm as icd

from eligibility.api import screen
from eligibility.concepts import Vocabulary, default_vocabulary, retired_icd10cm
from eligibility.data import load_yaml
from eligibility.io.ctgov import StudyRecord
from eligibility.patient import Patient
from eligibility.trial import trial_from_study


def _table() -> dict[str, dict[str, str]]:
    text = resources.files("eligibility.data").joinpath("icd10cm_retired.yaml").read_text(encoding="utf-8")
    table: dict[str, dict[str, str]] = load_yaml(text)["retired"]
    return table


@pytest.mark.parametrize(("code", "item"), sorted(_table().items()))
def test_each_retired_code_is_outside_fy2026_and_its_successor_holds_its_title(code: str, item: dict[str, str]) -> None:
    assert not icd.is_valid_item(code), f"{code} is a current code: it needs no successor"
    successor = item["successor"]
    assert icd.is_valid_item(successor)
    inclusion = [t.lower() for t in icd.get_inclusion_term(successor)]
    assert item["title"].lower() in inclusion, f"{successor} does not hold '{item['title']}' as an inclusion term"


@pytest.mark.parametrize(("code", "successor"), [("Z22.51", "B18.1"), ("Z2252", "B18.2"), ("z22.59", "B18.8")])
def test_a_retired_code_names_what_its_successor_names(code: str, successor: str) -> None:
    vocab: Vocabulary = default_vocabulary()
    found = vocab.concepts_for_code("icd10cm", code)
    assert found and found == vocab.concepts_for_code("icd10cm", successor)


def test_the_map_is_keyed_without_dots() -> None:
    assert retired_icd10cm()["Z2251"] == "B181"


def test_an_old_hepatitis_b_carrier_code_is_not_read_as_no_hepatitis_b() -> None:
    """Hepatitis B is closed world: missing the old carrier code would say 'no record' and pass her."""
    text = "Inclusion Criteria:\n- Adults\nExclusion Criteria:\n- Hepatitis B infection\n"
    trial = trial_from_study(StudyRecord(nct_id="NCT00000002", criteria_text=text))
    patient = Patient.model_validate(
        {
            "id": "p",
            "birth_date": "1970-01-01",
            "sex": "female",
            "conditions": [{"system": "icd10cm", "code": "Z22.51", "onset": "2014-03-01"}],
        }
    )
    (e1,) = [c for c in screen(trial, patient, as_of=date(2026, 6, 1)).criteria if c.id == "E1"]
    assert e1.status == "fail"


def test_every_substance_code_in_remission_is_a_history_code() -> None:
    """'Alcohol dependence, in remission' is a past use disorder: it meets 'history of', not 'current'."""
    vocab = default_vocabulary()
    remission = [
        code
        for code in icd.get_all_codes(with_dots=True)
        if code.startswith("F1") and icd.is_leaf(code) and "in remission" in icd.get_description(code).lower()
    ]
    assert len(remission) >= 30
    assert [c for c in remission if not vocab.is_history_code("icd10cm", c)] == []
    assert not vocab.is_history_code("icd10cm", "F10.20")  # dependence, uncomplicated: current
