"""Open world per record kind (``TrialLibrary.match(open_kinds=...)``): a kind that could not be obtained makes
"no record" unknown for criteria on that kind only; the others stay closed world."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from eligibility.library import TrialLibrary
from eligibility.patient import Patient

RULES = """\
trial: KINDS-1
title: One exclusion per record kind
criteria:
  - {id: E1, kind: exclusion, text: "Known HIV infection", rule: "history of HIV infection"}
  - {id: E2, kind: exclusion, text: "Atorvastatin in the last two weeks", rule: "atorvastatin within 2 weeks"}
  - {id: E3, kind: exclusion, text: "Any allergy", rule: "history of allergy"}
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> TrialLibrary:
    folder: Path = tmp_path_factory.mktemp("kinds")
    (folder / "KINDS-1.yaml").write_text(RULES)
    return TrialLibrary.load(folder, cache=False)


def _explained(library: TrialLibrary, kinds: tuple[str, ...]) -> dict[str, tuple[str, bool]]:
    patient = Patient(id="p", sex="female", birth_date=date(1980, 1, 1))
    [match] = library.match(patient, as_of=date(2026, 1, 1), open_kinds=kinds)  # type: ignore[arg-type]
    return {c.id: (c.status, "open world" in c.explanation) for c in match.result.criteria}


@pytest.mark.parametrize(
    ("kinds", "hiv", "statin", "allergy_open"),
    [
        ((), "pass", "pass", False),
        (("condition",), "unknown", "pass", True),  # the allergy mirror is a condition record as well
        (("medication",), "pass", "unknown", False),
        (("procedure",), "pass", "pass", False),
        (("allergy",), "pass", "pass", True),  # missing allergies open "history of allergy", not HIV
        (("medication", "allergy"), "pass", "unknown", True),
    ],
)
def test_only_the_missing_kind_is_open(
    library: TrialLibrary, kinds: tuple[str, ...], hiv: str, statin: str, allergy_open: bool
) -> None:
    got = _explained(library, kinds)
    assert got["E1"] == (hiv, hiv == "unknown")
    assert got["E2"] == (statin, statin == "unknown")
    assert got["E3"][1] is allergy_open


def test_open_world_still_opens_everything(library: TrialLibrary) -> None:
    patient = Patient(id="p", sex="female", birth_date=date(1980, 1, 1))
    [match] = library.match(patient, as_of=date(2026, 1, 1), open_world=True)
    assert {c.id: c.status for c in match.result.criteria} == {"E1": "unknown", "E2": "unknown", "E3": "unknown"}
