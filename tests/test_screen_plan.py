"""The library's fast match equals the plain evaluator, criterion by criterion (eligibility.screen_plan).

``TrialLibrary.match`` shares work across trials: results of criteria no patient can change are built once,
and sub-rules that read the same are evaluated once per patient. The plain path is :func:`eligibility.api.screen`
trial by trial, each in a fresh context with no node keys. Both are run on Synthea patients against the
100-study leukaemia library and on the development cases against their eight trials, in closed and open world
and with coordinators' answers, and every criterion's result must be the same, field for field.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pytest

from eligibility import nodes as n
from eligibility.api import load_patient, screen
from eligibility.concepts import default_vocabulary
from eligibility.evaluate import Context, OpenKind
from eligibility.library import TrialLibrary
from eligibility.patient import Attestation, Patient
from eligibility.screen_plan import ScreenPlan, patient_independent
from tests.conftest import SHARED_DATA

LEUKAEMIA = SHARED_DATA / "ctgov" / "studies-100-leukaemia.json"
SYNTHEA = sorted((SHARED_DATA / "fhir" / "synthea-195").glob("*.json.gz"))
MAKE_CASES = SHARED_DATA / "cases-dev" / "make_cases_dev.py"
AS_OF = date(2026, 1, 15)


def assert_same_as_plain(
    lib: TrialLibrary,
    patient: Patient,
    as_of: date,
    *,
    open_world: bool = False,
    open_kinds: Iterable[OpenKind] = (),
) -> int:
    """Match through the plan and screen trial by trial the plain way; compare every criterion. Returns how
    many criteria were compared (so a caller can check the comparison was not empty)."""
    kinds = tuple(open_kinds)
    fast = {m.trial: m for m in lib.match(patient, as_of=as_of, open_world=open_world, open_kinds=kinds)}
    assert sorted(fast) == sorted(t.id for t in lib)
    compared = 0
    for entry in lib:
        ctx = Context(patient, as_of, lib.vocabulary, open_world=open_world, open_kinds=kinds)
        plain = screen(entry.trial, patient, as_of, open_world, lib.vocabulary, context=ctx)
        got = fast[entry.id].result
        assert len(got.criteria) == len(plain.criteria), entry.id
        for mine, theirs in zip(got.criteria, plain.criteria, strict=True):
            assert mine.model_dump() == theirs.model_dump(), f"{patient.id} {entry.id} {theirs.id}"
            compared += 1
        assert got.model_dump() == plain.model_dump(), f"{patient.id} {entry.id}"
    return compared


@pytest.fixture(scope="module")
def leukaemia() -> TrialLibrary:
    if not LEUKAEMIA.is_file():
        pytest.skip("../shared/data/ctgov is not beside this checkout")
    return TrialLibrary.load(LEUKAEMIA)


@pytest.fixture(scope="module")
def synthea() -> list[Patient]:
    if len(SYNTHEA) < 100:
        pytest.skip("../shared/data/fhir/synthea-195 is not beside this checkout")
    chosen = SYNTHEA[::16]  # 13 patients spread over the set
    return [load_patient(p) for p in chosen]


def test_synthea_patients_against_the_leukaemia_library(leukaemia: TrialLibrary, synthea: list[Patient]) -> None:
    compared = sum(assert_same_as_plain(leukaemia, p, AS_OF) for p in synthea)
    assert compared == len(synthea) * sum(len(t.trial.criteria) for t in leukaemia)
    # twice over the same library: the results shared across patients are those of the plain path too
    assert_same_as_plain(leukaemia, synthea[0], AS_OF)


@pytest.mark.parametrize(
    ("open_world", "open_kinds"),
    [(True, ()), (False, ("condition", "medication")), (False, ("allergy", "procedure"))],
)
def test_open_world_and_open_kinds(
    leukaemia: TrialLibrary, synthea: list[Patient], open_world: bool, open_kinds: tuple[OpenKind, ...]
) -> None:
    for p in synthea[:4]:
        assert_same_as_plain(leukaemia, p, AS_OF, open_world=open_world, open_kinds=open_kinds)


def test_another_screening_date(leukaemia: TrialLibrary, synthea: list[Patient]) -> None:
    for p in synthea[4:7]:
        assert_same_as_plain(leukaemia, p, date(2019, 6, 30))


def test_coordinator_answers_are_not_shared(leukaemia: TrialLibrary, synthea: list[Patient]) -> None:
    """An answer for a criterion no record can decide changes that criterion for that patient only; an answer
    given for another trial is refused with a note, as on the plain path."""
    entry = next(t for t in leukaemia if any(patient_independent(c.rule) for c in t.trial.criteria))
    other = next(t for t in leukaemia if t.id != entry.id)
    crit = next(c for c in entry.trial.criteria if patient_independent(c.rule))
    plain = synthea[1]
    assert_same_as_plain(leukaemia, plain, AS_OF)  # the shared result is built first
    answered = plain.model_copy(
        update={"attestations": {crit.id: Attestation(answer="yes", trial=entry.id, by="coordinator")}}
    )
    assert_same_as_plain(leukaemia, answered, AS_OF)
    result = next(m for m in leukaemia.match(answered, as_of=AS_OF) if m.trial == entry.id).result
    assert next(c for c in result.criteria if c.id == crit.id).status != "unknown"
    elsewhere = plain.model_copy(update={"attestations": {crit.id: Attestation(answer="no", trial=other.id)}})
    assert_same_as_plain(leukaemia, elsewhere, AS_OF)
    result = next(m for m in leukaemia.match(plain, as_of=AS_OF) if m.trial == entry.id).result
    assert next(c for c in result.criteria if c.id == crit.id).status == "unknown"  # the others: still unknown


@pytest.fixture(scope="module")
def dev_cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not MAKE_CASES.is_file():
        pytest.skip("../shared/data/cases-dev is not beside this checkout")
    out = tmp_path_factory.mktemp("cases")
    subprocess.run([sys.executable, str(MAKE_CASES), str(out)], check=True, capture_output=True)
    return out


def test_every_dev_case_against_its_eight_trials(dev_cases: Path) -> None:
    expectations = json.loads((dev_cases / "expectations.json").read_text())
    as_of = date.fromisoformat(expectations["as_of"])
    lib = TrialLibrary.load(dev_cases, cache=False, strict=False)
    assert len(lib) == 8
    compared = 0
    for name in expectations["cases"]:
        patient = load_patient(dev_cases / f"{name}.json")
        compared += assert_same_as_plain(lib, patient, as_of)
    assert compared > 141 * 8 * 5


# ---- the plan itself --------------------------------------------------------------------------------


def test_nodes_that_read_the_same_share_a_key_whatever_their_spans() -> None:
    age = n.Age(op=">=", value=18, span=(0, 10))
    same = n.Age(op=">=", value=18, span=(40, 52))
    older = n.Age(op=">=", value=21, span=(0, 10))
    months = n.Age(op=">=", value=18, unit="months")
    plan = ScreenPlan([], default_vocabulary())
    for node in (age, same, older, months):
        plan._key(node)
    keys = plan.node_keys
    assert keys[id(age)] == keys[id(same)]
    assert len({keys[id(age)], keys[id(older)], keys[id(months)]}) == 3
    both = n.And(items=(age, n.Unparsed(text="x", reason="r")))
    other = n.And(items=(same, n.Unparsed(text="x", reason="another reason")))
    plan._key(both)
    plan._key(other)
    assert keys[id(both)] != keys[id(other)]
    assert keys[id(both.items[1])] != keys[id(other.items[1])]


def test_patient_independent() -> None:
    unparsed = n.Unparsed(text="x", reason="r")
    measurement = n.Measurement(name="QTcF", op="<=", value=470, unit="ms")
    assert patient_independent(unparsed)
    assert patient_independent(n.Or(items=(unparsed, n.Not(item=measurement))))
    assert not patient_independent(n.And(items=(unparsed, n.Age(op=">=", value=18))))
    assert not patient_independent(n.And(items=()))
