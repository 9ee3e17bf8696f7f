"""FHIR R4 Bundle input: mapping of each resource type, what is ignored, errors, real Synthea
bundles, seed-trial boundaries, and native <-> FHIR equivalence (hypothesis)."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from eligibility import load_trial, screen
from eligibility.api import load_patient, load_patient_with_format
from eligibility.cli import app
from eligibility.errors import InputError
from eligibility.io.fhir import bundle_to_patient, load_fhir_bundle, patient_to_bundle
from eligibility.patient import (
    ConditionRecord,
    MedicationRecord,
    Observation,
    Patient,
    ProcedureRecord,
)
from eligibility.trial import Trial

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
AS_OF = date(2021, 5, 1)
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
SUBJECT = {"reference": "Patient/p1"}


@pytest.fixture(scope="module")
def itp_trial() -> Trial:
    return load_trial("NCT06352281")


@pytest.fixture(scope="module")
def peds_trial() -> Trial:
    return load_trial("NCT06168851")


def bundle(
    *resources: dict[str, Any], patient: dict[str, Any] | None = None, btype: str = "collection"
) -> dict[str, Any]:
    pat = {"resourceType": "Patient", "id": "p1", "birthDate": "1980-06-15", "gender": "female"}
    if patient is not None:
        pat = patient
    entries = [{"fullUrl": "urn:uuid:p1", "resource": pat}] if pat else []
    entries += [{"fullUrl": f"urn:uuid:{r.get('id', i)}", "resource": r} for i, r in enumerate(resources)]
    return {"resourceType": "Bundle", "type": btype, "entry": entries}


def obs(code: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": fields.pop("id", f"o-{code}"),
        "status": fields.pop("status", "final"),
        "code": {"coding": [{"system": LOINC, "code": code}], "text": fields.pop("text", f"lab {code}")},
        "subject": SUBJECT,
        **fields,
    }


def cond(code: str, system: str = SNOMED, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": fields.pop("id", f"c-{code}"),
        "code": {"coding": [{"system": system, "code": code, "display": f"condition {code}"}]},
        "subject": SUBJECT,
        **fields,
    }


def status(system_suffix: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system_suffix}", "code": code}]}


def med_request(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": fields.pop("id", "mr1"),
        "status": fields.pop("status", "active"),
        "intent": "order",
        "subject": SUBJECT,
        **(
            {}
            if "medicationReference" in fields
            else {"medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1191", "display": "aspirin"}]}}
        ),
        **fields,
    }


def one(data: dict[str, Any]) -> Patient:
    return bundle_to_patient(data, origin="test.json")


def status_of(trial: Trial, patient: Patient, criterion: str) -> str:
    result = screen(trial, patient, as_of=AS_OF)
    return next(c.status for c in result.criteria if c.id == criterion)


# ---- Patient ----------------------------------------------------------------------------------


def test_patient_demographics_and_bundle_types() -> None:
    for btype in ("transaction", "collection", "searchset"):
        p = one(bundle(btype=btype))
        assert (p.id, p.birth_date, p.sex) == ("p1", date(1980, 6, 15), "female")


def test_partial_birth_date_is_not_guessed() -> None:
    p = one(bundle(patient={"resourceType": "Patient", "id": "p1", "birthDate": "1980", "gender": "male"}))
    assert p.birth_date is None
    assert any("not a full date" in n for n in p.notes)


def test_deceased_patient_has_a_death_date_or_a_note() -> None:
    pat = {"resourceType": "Patient", "id": "p1", "birthDate": "1940-01-01", "deceasedDateTime": "2016-04-05"}
    assert one(bundle(patient=pat)).death_date == date(2016, 4, 5)  # (screening: never eligible from that day)
    pat = {"resourceType": "Patient", "id": "p1", "birthDate": "1940-01-01", "deceasedBoolean": True}
    found = one(bundle(patient=pat))
    assert found.death_date is None
    assert list(found.notes) == ["FHIR: the patient is recorded as deceased, date unknown: check before screening"]


# ---- Observation ------------------------------------------------------------------------------


def test_observation_quantity_prefers_ucum_code_and_keeps_same_unit_range() -> None:
    o = obs(
        "777-3",
        effectiveDateTime="2021-04-20T10:00:00+02:00",
        valueQuantity={"value": 22, "unit": "thousand per microliter", "system": UCUM, "code": "10*3/uL"},
        referenceRange=[
            {"low": {"value": 150, "code": "10*3/uL", "system": UCUM}, "high": {"value": 450, "code": "10*3/uL"}}
        ],
        interpretation=[{"coding": [{"code": "L"}], "text": "Low"}],
    )
    (rec,) = one(bundle(o)).observations
    assert (rec.system, rec.code, rec.value, rec.unit) == ("loinc", "777-3", 22.0, "10*3/uL")
    assert (rec.effective, rec.ref_low, rec.ref_high) == (date(2021, 4, 20), 150.0, 450.0)
    assert rec.text is not None and "interpretation: Low" in rec.text
    assert rec.source == "Observation/o-777-3"


def test_reference_range_in_another_unit_is_converted_or_dropped() -> None:
    converted = obs(
        "777-3",
        valueQuantity={"value": 22, "code": "10*3/uL"},
        referenceRange=[{"low": {"value": 150, "code": "10*9/L"}, "high": {"value": 450, "code": "10*9/L"}}],
    )
    (rec,) = one(bundle(converted)).observations
    assert (rec.ref_low, rec.ref_high) == pytest.approx((150.0, 450.0))
    dropped = obs(
        "2160-0",
        valueQuantity={"value": 0.9, "code": "mg/dL"},
        referenceRange=[{"high": {"value": 100, "code": "umol/L"}}],
    )
    p = one(bundle(dropped))
    assert p.observations[0].ref_high is None
    assert any("reference range not in the result's unit" in n for n in p.notes)


def test_effective_period_start_else_end() -> None:
    a = obs("718-7", id="a", effectivePeriod={"start": "2021-03-01", "end": "2021-03-02"}, valueQuantity={"value": 1})
    b = obs("718-7", id="b", effectivePeriod={"end": "2021-03-05"}, valueQuantity={"value": 1})
    assert [o.effective for o in one(bundle(a, b)).observations] == [date(2021, 3, 1), date(2021, 3, 5)]


def test_comparator_value_is_not_the_number() -> None:
    o = obs("1742-6", valueQuantity={"value": 5, "comparator": "<", "code": "U/L"})
    p = one(bundle(o))
    assert p.observations[0].value is None
    assert any("comparator" in n for n in p.notes)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "10828004"}]}}, "positive"),
        ({"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "260415000"}]}}, "negative"),
        ({"valueCodeableConcept": {"text": "Reactive"}}, "positive"),
        ({"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA6577-6"}]}}, "negative"),
        ({"valueString": "Detected"}, "positive"),
        ({"valueString": "not detected"}, "negative"),
        ({"valueString": "Non-reactive"}, "negative"),
        ({"valueString": "present"}, "positive"),
        ({"valueString": "Absent"}, "negative"),
        (
            {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "77386006", "display": "Pregnant"}]}},
            "positive",
        ),
        (
            {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "60001007", "display": "Not pregnant"}]}},
            "negative",
        ),
        ({"valueString": "not HIV positive"}, None),
        (
            {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "266919005", "display": "Never smoker"}]}},
            None,
        ),
        (
            {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "10828004"}], "text": "Negative"}},
            "positive",
        ),
    ],
)
def test_qualitative_results(value: dict[str, Any], expected: str | None) -> None:
    p = one(bundle(obs("5196-1", **value)))
    assert p.observations[0].result == expected
    if expected is None:
        assert any("not read as positive/negative" in n for n in p.notes)


def test_conflicting_qualitative_codes_give_no_result() -> None:
    o = obs(
        "5196-1",
        valueCodeableConcept={
            "coding": [{"system": SNOMED, "code": "10828004"}, {"system": SNOMED, "code": "260385009"}]
        },
    )
    assert one(bundle(o)).observations[0].result is None


def test_entered_in_error_and_cancelled_observations_ignored() -> None:
    p = one(
        bundle(
            obs("777-3", id="x", status="entered-in-error", valueQuantity={"value": 1}),
            obs("777-3", id="y", status="cancelled"),
        )
    )
    assert p.observations == ()
    assert sum("ignored" in n for n in p.notes) == 2


def test_components_become_observations() -> None:
    bp = obs(
        "55284-4",
        effectiveDateTime="2021-04-01",
        component=[
            {
                "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                "valueQuantity": {"value": 120, "code": "mm[Hg]"},
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                "valueQuantity": {"value": 80, "code": "mm[Hg]"},
            },
        ],
    )
    recs = one(bundle(bp)).observations
    assert [(r.code, r.value, r.effective) for r in recs] == [
        ("8480-6", 120, date(2021, 4, 1)),
        ("8462-4", 80, date(2021, 4, 1)),
    ]


def test_coding_the_vocabulary_knows_is_chosen() -> None:
    o = obs("x", valueQuantity={"value": 1, "code": "10*3/uL"})
    o["code"] = {"coding": [{"system": "http://acme.example/lab", "code": "PLT"}, {"system": LOINC, "code": "777-3"}]}
    assert one(bundle(o)).observations[0].code == "777-3"


# ---- Condition ----------------------------------------------------------------------------------


def test_condition_onset_forms() -> None:
    p = one(
        bundle(
            cond("1", id="dt", onsetDateTime="2019-02-03T10:00:00Z"),
            cond("2", id="period", onsetPeriod={"start": "2018-01-01", "end": "2018-02-01"}),
            cond("3", id="age", onsetAge={"value": 30, "unit": "years", "system": UCUM, "code": "a"}),
            cond("4", id="string", onsetString="in childhood"),
            cond("5", id="partial", onsetDateTime="2019-05"),
        )
    )
    onsets = {c.source: c.onset for c in p.conditions}
    assert onsets == {
        "Condition/dt": date(2019, 2, 3),
        "Condition/period": date(2018, 1, 1),
        "Condition/age": date(2010, 6, 15),
        "Condition/string": None,
        "Condition/partial": None,
    }
    assert any("string has no date" in n for n in p.notes)


def test_condition_status_and_abatement() -> None:
    p = one(
        bundle(
            cond("1", id="plain"),
            cond("2", id="abated", abatementDateTime="2020-01-01"),
            cond("3", id="remission", clinicalStatus=status("condition-clinical", "remission")),
            cond("4", id="abated-string", abatementString="a while ago"),
        )
    )
    got = {c.source: (c.status, c.abatement) for c in p.conditions}
    assert got == {
        "Condition/plain": ("active", None),
        "Condition/abated": ("resolved", date(2020, 1, 1)),
        "Condition/remission": ("remission", None),
        "Condition/abated-string": ("resolved", None),
    }


def test_refuted_and_entered_in_error_conditions_ignored() -> None:
    p = one(
        bundle(
            cond("1", id="r", verificationStatus=status("condition-ver-status", "refuted")),
            cond("2", id="e", verificationStatus=status("condition-ver-status", "entered-in-error")),
            cond("3", id="ok", verificationStatus=status("condition-ver-status", "confirmed")),
        )
    )
    assert [c.source for c in p.conditions] == ["Condition/ok"]


def test_refuted_itp_is_not_itp(itp_trial: Trial) -> None:
    refuted = cond(
        "D69.3",
        "http://hl7.org/fhir/sid/icd-10-cm",
        onsetDateTime="2018-01-01",
        verificationStatus=status("condition-ver-status", "refuted"),
    )
    p = one(bundle(refuted))
    result = screen(itp_trial, p, as_of=AS_OF)
    i3 = next(c for c in result.criteria if c.id == "I3")
    assert "no record of" in i3.explanation


# ---- Medications ------------------------------------------------------------------------------


def test_active_request_with_only_authored_on_is_ongoing() -> None:
    (m,) = one(bundle(med_request(authoredOn="2021-01-01T09:00:00Z"))).medications
    assert (m.start, m.end, m.authored) == (date(2021, 1, 1), None, date(2021, 1, 1))


def test_stopped_request_without_end_does_not_claim_exposure(itp_trial: Trial) -> None:
    p = one(bundle(med_request(status="stopped", authoredOn="2021-04-25")))
    (m,) = p.medications
    assert (m.start, m.end, m.authored) == (None, None, date(2021, 4, 25))
    assert any("stopped without an end date" in n for n in p.notes)
    # Neither "ongoing" (would exclude) nor "one day" (would pass): unknown.
    assert status_of(itp_trial, p, "E4") == "unknown"


def test_bounds_period_and_duration() -> None:
    period = med_request(
        id="a",
        status="completed",
        authoredOn="2021-01-01",
        dosageInstruction=[{"timing": {"repeat": {"boundsPeriod": {"start": "2021-02-01", "end": "2021-02-10"}}}}],
    )
    duration = med_request(
        id="b",
        status="completed",
        authoredOn="2021-03-01",
        dosageInstruction=[
            {"timing": {"repeat": {"boundsDuration": {"value": 10, "unit": "days", "system": UCUM, "code": "d"}}}}
        ],
    )
    meds = {m.source: (m.start, m.end) for m in one(bundle(period, duration)).medications}
    assert meds == {
        "MedicationRequest/a": (date(2021, 2, 1), date(2021, 2, 10)),
        "MedicationRequest/b": (date(2021, 3, 1), date(2021, 3, 10)),
    }


def test_medication_reference_contained_and_by_full_url() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m1",
        "code": {"coding": [{"system": RXNORM, "code": "32968", "display": "clopidogrel"}]},
    }
    by_url = med_request(id="a", medicationReference={"reference": "urn:uuid:m1"}, authoredOn="2021-01-01")
    by_id = med_request(id="b", medicationReference={"reference": "Medication/m1"}, authoredOn="2021-01-01")
    contained = med_request(
        id="c",
        medicationReference={"reference": "#inner"},
        authoredOn="2021-01-01",
        contained=[
            {"resourceType": "Medication", "id": "inner", "code": {"coding": [{"system": RXNORM, "code": "11289"}]}}
        ],
    )
    missing = med_request(
        id="d", medicationReference={"reference": "Medication/nope", "display": "mystery"}, authoredOn="2021-01-01"
    )
    p = one(bundle(medication, by_url, by_id, contained, missing))
    assert [(m.code, m.text) for m in p.medications] == [
        ("32968", "clopidogrel"),
        ("32968", "clopidogrel"),
        ("11289", None),
        (None, "mystery"),
    ]
    assert any("reference not found" in n for n in p.notes)


def test_statement_and_administration() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "s",
        "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "5640"}]},
        "subject": SUBJECT,
        "effectivePeriod": {"start": "2021-04-01", "end": "2021-04-05"},
    }
    administration = {
        "resourceType": "MedicationAdministration",
        "id": "a",
        "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "5224"}]},
        "subject": SUBJECT,
        "effectiveDateTime": "2021-04-10T12:00:00Z",
    }
    void = {**statement, "id": "v", "status": "entered-in-error"}
    not_taken = {**statement, "id": "n", "status": "not-taken"}
    meds = {m.source: (m.start, m.end) for m in one(bundle(statement, administration, void, not_taken)).medications}
    assert meds == {
        "MedicationStatement/s": (date(2021, 4, 1), date(2021, 4, 5)),
        "MedicationAdministration/a": (date(2021, 4, 10), date(2021, 4, 10)),
    }


def test_cancelled_request_ignored() -> None:
    assert one(bundle(med_request(status="cancelled", authoredOn="2021-01-01"))).medications == ()


# ---- Procedure, AllergyIntolerance ----------------------------------------------------------------


def test_procedure() -> None:
    done = {"resourceType": "Procedure", "id": "p", "status": "completed", "subject": SUBJECT,
            "code": {"coding": [{"system": SNOMED, "code": "234319005", "display": "Splenectomy"}]},
            "performedPeriod": {"start": "2020-01-01T10:00:00Z", "end": "2020-01-01T12:00:00Z"}}  # fmt: skip
    not_done = {**done, "id": "n", "status": "not-done"}
    (rec,) = one(bundle(done, not_done)).procedures
    assert (rec.code, rec.date, rec.text) == ("234319005", date(2020, 1, 1), "Splenectomy")


def test_allergy_is_recorded_and_seen_as_allergy_history(itp_trial: Trial) -> None:
    allergy = {
        "resourceType": "AllergyIntolerance",
        "id": "al",
        "patient": SUBJECT,
        "criticality": "high",
        "clinicalStatus": status("allergyintolerance-clinical", "active"),
        "code": {"coding": [{"system": SNOMED, "code": "91934008", "display": "Allergy to nut"}]},
        "onsetDateTime": "2000-01-01",
    }
    refuted = {**allergy, "id": "r", "verificationStatus": status("allergyintolerance-verification", "refuted")}
    p = one(bundle(allergy, refuted))
    (a,) = p.allergies
    assert (a.code, a.criticality, a.status, a.onset) == ("91934008", "high", "active", date(2000, 1, 1))
    assert [c.concept for c in p.conditions] == ["allergy_unclassified"]  # no category: food or drug, not known
    # "history of allergy and {severe...}": the allergy is seen, the severity needs a person.
    assert status_of(itp_trial, p, "E14") == "unknown"
    assert status_of(itp_trial, one(bundle()), "E14") == "unknown"  # allergy's extent is not reviewed complete


# ---- skipped types, errors, format detection ---------------------------------------------------


def test_unknown_resource_types_are_counted_and_surface_in_results(itp_trial: Trial) -> None:
    claim = {"resourceType": "Claim", "id": "c1"}  # not validated: never read
    enc = {"resourceType": "Encounter", "id": "e1"}
    p = one(bundle(claim, enc, {"resourceType": "Claim", "id": "c2"}, {"resourceType": "NotAType"}))
    (note,) = [n for n in p.notes if "skipped" in n]
    assert "Claim 2" in note and "Encounter 1" in note and "NotAType 1" in note
    assert note in screen(itp_trial, p, as_of=AS_OF).notes


def test_validate_all_checks_skipped_types_too() -> None:
    data = bundle({"resourceType": "Claim", "id": "c1"})
    with pytest.raises(InputError) as err:
        bundle_to_patient(data, origin="x.json", validate="all")
    assert err.value.field is not None and err.value.field.startswith("entry[1].resource")


def test_invalid_entry_names_file_entry_id_and_field() -> None:
    bad = obs("777-3", id="bad-obs", valueQuantity={"value": "many"})
    with pytest.raises(InputError) as err:
        bundle_to_patient(bundle(bad), origin="bundle.json")
    assert err.value.path == "bundle.json"
    assert err.value.field == "entry[1].resource.valueQuantity.value"
    assert "entry 1 (Observation/bad-obs)" in str(err.value)
    missing = obs("777-3", id="no-status")
    del missing["status"]
    with pytest.raises(InputError, match="status"):
        bundle_to_patient(bundle(missing), origin="bundle.json")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([1, 2], None),
        ({"resourceType": "Patient", "id": "x"}, "resourceType"),
        ({"resourceType": "Bundle", "type": "history", "entry": []}, "type"),
        ({"resourceType": "Bundle", "type": "collection", "entry": {}}, "entry"),
        (
            {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"id": "x"}}]},
            "entry[0].resource.resourceType",
        ),
    ],
)
def test_malformed_bundles(data: Any, field: str | None) -> None:
    with pytest.raises(InputError) as err:
        bundle_to_patient(data, origin="f.json")
    assert err.value.field == field


def test_two_patients_refused() -> None:
    data = bundle({"resourceType": "Patient", "id": "p2"})
    with pytest.raises(InputError, match="2 Patient resources"):
        one(data)


def test_load_patient_detects_format(tmp_path: Path) -> None:
    native = Path(__file__).parents[1] / "examples" / "patient-eligible.json"
    assert load_patient_with_format(native)[1] == "native"
    fhir_path = FIXTURES / "hbsag-positive.json"
    patient, kind = load_patient_with_format(fhir_path)
    assert kind == "fhir" and patient.id == "p-hbsag"
    assert load_patient(fhir_path) == patient
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        load_patient(broken)
    lone = tmp_path / "lone.json"
    lone.write_text(json.dumps({"resourceType": "Observation"}), encoding="utf-8")
    with pytest.raises(InputError, match="not a Bundle"):
        load_patient(lone)


def test_cli_folder_mixes_native_and_fhir(tmp_path: Path) -> None:
    examples = Path(__file__).parents[1] / "examples"
    (tmp_path / "a-native.json").write_text(
        (examples / "patient-eligible.json").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "b-fhir.json").write_text(
        (FIXTURES / "mi-10-months-ago.json").read_text(encoding="utf-8"), encoding="utf-8"
    )
    result = CliRunner().invoke(
        app, ["screen", "--trial", "NCT06352281", "--patient", str(tmp_path), "--as-of", "2021-05-01"]
    )
    assert result.exit_code == 0, result.output
    assert "example-eligible" in result.output and "p-mi10" in result.output
    assert result.output.count("criteria from the record") == 1
    assert "decided " in result.output and " of 27 criteria from the record" in result.output
    bad = tmp_path / "c-bad.json"
    bad.write_text(json.dumps(bundle(obs("777-3", id="z", valueQuantity={"value": "x"}))), encoding="utf-8")
    result = CliRunner().invoke(app, ["screen", "--trial", "NCT06352281", "--patient", str(bad)])
    assert result.exit_code == 2
    assert "c-bad.json" in result.output and "entry[1].resource.valueQuantity.value" in result.output


# ---- seed trial NCT06352281 boundaries (as of 2021-05-01) ------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "criterion", "expected"),
    [
        ("aspirin-3-days-in-window", "E4", "unknown"),  # platelet drugs: not a complete class, absence no proof
        ("aspirin-4-days-in-window", "E4", "fail"),
        ("aspirin-4-days-outside-window", "E4", "unknown"),
        ("itp-onset-11-months", "I3", "unknown"),  # not chronic; refractoriness needs a person
        ("itp-onset-13-months", "I3", "pass"),
        ("mi-10-months-ago", "E7", "fail"),
        ("mi-14-months-ago", "E7", "unknown"),  # MI too old; "other heart disease" needs a person
        ("child-creatinine-high-umol", "E11", "fail"),  # 180 µmol/L = 2.04 mg/dL = 2.4 x ULN 0.86 (10-<15 y)
        ("child-creatinine-normal-umol", "E11", "pass"),  # 130 µmol/L = 1.7 x ULN
        ("hbsag-positive", "E13", "fail"),
        ("anti-hbc-positive-hbv-dna-negative", "E13", "unknown"),  # not excluded by HBV; other infections need a person
        ("anti-hbc-positive-hbv-dna-positive", "E13", "fail"),
        ("pregnant-female", "E15", "fail"),
        ("not-pregnant-female", "E15", "pass"),
        ("male-no-pregnancy", "E15", "pass"),
    ],
)
def test_seed_trial_boundaries(itp_trial: Trial, fixture: str, criterion: str, expected: str) -> None:
    patient = load_patient(FIXTURES / f"{fixture}.json")
    assert status_of(itp_trial, patient, criterion) == expected


def test_creatinine_explanation_uses_age_band(itp_trial: Trial) -> None:
    result = screen(itp_trial, load_patient(FIXTURES / "child-creatinine-high-umol.json"), as_of=AS_OF)
    e11 = next(c for c in result.criteria if c.id == "E11")
    assert "10-<15" in e11.explanation or "10-15" in e11.explanation


# ---- real Synthea bundles -----------------------------------------------------------------------


def test_every_synthea_bundle_loads_and_screens(shared_data: Path, itp_trial: Trial, peds_trial: Trial) -> None:
    files = sorted((shared_data / "fhir" / "synthea").glob("*.json"))
    assert len(files) == 16
    for path in files:
        patient = load_fhir_bundle(path)
        assert patient.birth_date is not None and patient.sex in ("male", "female")
        assert patient.observations and any("skipped" in n for n in patient.notes)
        for trial in (itp_trial, peds_trial):
            result = screen(trial, patient, as_of=AS_OF)
            assert len(result.criteria) == len(trial.criteria)
            # Nothing computable was dropped silently: the adapter's notes reach the result.
            assert set(patient.notes) <= set(result.notes)


def test_synthea_stopped_orders_never_claim_exposure(shared_data: Path) -> None:
    for path in sorted((shared_data / "fhir" / "synthea").glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        requests = [e["resource"] for e in raw["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]
        stopped = {r["id"] for r in requests if r["status"] != "active"}
        for med in load_fhir_bundle(path).medications:
            if med.source and med.source.split("/", 1)[1] in stopped:
                assert med.start is None and med.end is None and med.authored is not None


# ---- native <-> FHIR equivalence ----------------------------------------------------------------

_OBS_CODES = [
    ("loinc", "777-3", "10^9/L"),
    ("loinc", "1742-6", "U/L"),
    ("loinc", "2160-0", "mg/dL"),
    ("loinc", "14682-9", "µmol/L"),
    ("loinc", "1920-8", "IU/L"),
]
_QUAL_CODES = [
    ("loinc", "5196-1"),
    ("loinc", "16933-4"),
    ("loinc", "42595-9"),
    ("loinc", "55277-8"),
    ("loinc", "11259-9"),
]
_COND_CODES = [
    ("icd10cm", "D69.3"),
    ("snomed", "22298006"),
    ("icd10cm", "I21.4"),
    ("snomed", "72892002"),
    ("icd10cm", "C50.9"),
    ("snomed", "88805009"),
    ("icd10cm", "Z90.81"),
]
_MED_CODES = [
    ("rxnorm", "1191"),
    ("rxnorm", "243670"),
    ("rxnorm", "11289"),
    ("atc", "H02AB07"),
    ("rxnorm", "8640"),
    ("atc", "M01AE01"),
]
_PROC_CODES = [("snomed", "234319005"), ("snomed", "36969009")]

days = st.dates(min_value=date(2019, 1, 1), max_value=date(2021, 6, 1))
maybe_day = st.none() | days


@st.composite
def observations(draw: st.DrawFn) -> Observation:
    if draw(st.booleans()):
        system, code, unit = draw(st.sampled_from(_OBS_CODES))
        value = draw(st.floats(min_value=0, max_value=1000, allow_nan=False, allow_infinity=False))
        low = draw(st.none() | st.floats(min_value=0, max_value=50))
        high = draw(st.none() | st.floats(min_value=51, max_value=500))
        return Observation(
            system=system, code=code, value=value, unit=unit, effective=draw(maybe_day), ref_low=low, ref_high=high
        )
    system, code = draw(st.sampled_from(_QUAL_CODES))
    result = draw(st.sampled_from(["positive", "negative"]))
    return Observation(system=system, code=code, result=result, effective=draw(maybe_day))


@st.composite
def conditions(draw: st.DrawFn) -> ConditionRecord:
    system, code = draw(st.sampled_from(_COND_CODES))
    status = draw(st.sampled_from(["active", "inactive", "resolved", "remission", "recurrence"]))
    return ConditionRecord(system=system, code=code, status=status, onset=draw(maybe_day), abatement=draw(maybe_day))


@st.composite
def medications(draw: st.DrawFn) -> MedicationRecord:
    system, code = draw(st.sampled_from(_MED_CODES))
    start = draw(maybe_day)
    length = draw(st.none() | st.integers(min_value=0, max_value=60))
    end = start + timedelta(days=length) if start is not None and length is not None else None
    return MedicationRecord(system=system, code=code, start=start, end=end)


@st.composite
def patients(draw: st.DrawFn) -> Patient:
    return Patient(
        id="prop",
        birth_date=draw(st.none() | st.dates(min_value=date(1940, 1, 1), max_value=date(2016, 1, 1))),
        sex=draw(st.none() | st.sampled_from(["male", "female", "other", "unknown"])),
        observations=tuple(draw(st.lists(observations(), max_size=6))),
        conditions=tuple(draw(st.lists(conditions(), max_size=4))),
        medications=tuple(draw(st.lists(medications(), max_size=4))),
        procedures=tuple(
            ProcedureRecord(system=s, code=c, date=d)
            for (s, c), d in draw(st.lists(st.tuples(st.sampled_from(_PROC_CODES), maybe_day), max_size=2))
        ),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients())
def test_native_and_fhir_give_identical_screening(itp_trial: Trial, peds_trial: Trial, patient: Patient) -> None:
    data = patient_to_bundle(patient)
    via_fhir = bundle_to_patient(copy.deepcopy(json.loads(json.dumps(data))), origin="roundtrip")
    for trial in (itp_trial, peds_trial):
        for as_of in (AS_OF, date(2020, 1, 1)):
            native = screen(trial, patient, as_of=as_of)
            fhir = screen(trial, via_fhir, as_of=as_of)
            assert [(c.id, c.status) for c in native.criteria] == [(c.id, c.status) for c in fhir.criteria]
            assert native.verdict == fhir.verdict
