"""Small OMOP CDM databases for the tests: rows as dicts, written as a CSV folder (upper- or lower-case names).

Also the independent route of the differential test: the same generated rows as a FHIR R4 Bundle, built
here from the CDM rows (not from anything the reader staged).
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

from hypothesis import strategies as st

from .test_batch_differential import AS_OF, NUMERIC_LABS, RULE_CONDITIONS, RULE_MEDICATIONS, RULE_PROCEDURES, VOCAB

COLUMNS = {
    "person": ["person_id", "gender_concept_id", "year_of_birth", "month_of_birth", "day_of_birth", "birth_datetime"],
    "observation_period": [
        "observation_period_id",
        "person_id",
        "observation_period_start_date",
        "observation_period_end_date",
        "period_type_concept_id",
    ],
    "death": ["person_id", "death_date", "death_datetime", "death_type_concept_id"],
    "measurement": [
        "measurement_id",
        "person_id",
        "measurement_concept_id",
        "measurement_date",
        "value_as_number",
        "value_as_concept_id",
        "unit_concept_id",
        "range_low",
        "range_high",
        "measurement_source_value",
        "measurement_source_concept_id",
        "unit_source_value",
    ],
    "condition_occurrence": [
        "condition_occurrence_id",
        "person_id",
        "condition_concept_id",
        "condition_start_date",
        "condition_end_date",
        "condition_source_value",
        "condition_source_concept_id",
    ],
    "drug_exposure": [
        "drug_exposure_id",
        "person_id",
        "drug_concept_id",
        "drug_exposure_start_date",
        "drug_exposure_end_date",
        "days_supply",
        "drug_source_value",
        "drug_source_concept_id",
    ],
    "procedure_occurrence": [
        "procedure_occurrence_id",
        "person_id",
        "procedure_concept_id",
        "procedure_date",
        "procedure_source_value",
        "procedure_source_concept_id",
    ],
    "concept": [
        "concept_id",
        "concept_name",
        "domain_id",
        "vocabulary_id",
        "concept_class_id",
        "standard_concept",
        "concept_code",
    ],
}
VOCABULARY_ID = {"loinc": "LOINC", "snomed": "SNOMED", "rxnorm": "RxNorm", "icd10cm": "ICD10CM", "atc": "ATC"}
URI = {
    "loinc": "http://loinc.org",
    "snomed": "http://snomed.info/sct",
    "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
    "atc": "http://www.whocc.no/atc",
}
UNITS = {"10*3/uL": 8848, "10*9/L": 9444, "mg/dL": 8840, "umol/L": 8749, "U/L": 8645, "%": 8554, "mmol/mol": 9579}


def write_cdm(folder: Path, tables: dict[str, list[dict[str, Any]]], upper: bool = False) -> None:
    """One CSV per table (header row; empty cells for None)."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, cols in COLUMNS.items():
        rows = tables.get(table, [])
        name = (table.upper() if upper else table) + ".csv"
        with (folder / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow([c.upper() for c in cols] if upper else cols)
            for row in rows:
                writer.writerow(["" if row.get(c) is None else str(row[c]) for c in cols])


def _coded(concept: str) -> list[tuple[str, str]]:
    """(system, code) of a concept and its members, in the systems an OMOP concept table holds."""
    out: list[tuple[str, str]] = []
    for leaf in VOCAB.leaves(concept):
        for system, codes in VOCAB[leaf].codes.items():
            if system in VOCABULARY_ID:
                out.extend((system, c) for c in codes[:2])
    return out


LAB_CODES = {lab: _coded(lab)[:1] for lab in ("platelets", "creatinine", "alt")}
UNKNOWN = ("snomed", "999999999")  # a code no concept of ours has


class _Concepts:
    """The concept table of one generated CDM: one concept id per (system, code)."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str], int] = {}

    def id(self, system: str, code: str) -> int:
        return self.ids.setdefault((system, code), 2_000_000 + len(self.ids))

    def rows(self) -> list[dict[str, Any]]:
        rows = [
            {
                "concept_id": cid,
                "concept_name": f"{system} {code}",
                "domain_id": "Observation",
                "vocabulary_id": VOCABULARY_ID[system],
                "concept_class_id": "x",
                "standard_concept": "S",
                "concept_code": code,
            }
            for (system, code), cid in self.ids.items()
        ]
        rows += [
            {
                "concept_id": cid,
                "concept_name": unit,
                "domain_id": "Unit",
                "vocabulary_id": "UCUM",
                "concept_class_id": "Unit",
                "standard_concept": "S",
                "concept_code": unit,
            }
            for unit, cid in UNITS.items()
        ]
        return rows


DELTA = st.one_of(st.sampled_from([0, -1, -13, -14, -29, -30, -89, -90, -91, -365, -366, 1]), st.integers(-900, 5))


def _day(draw: st.DrawFn) -> date:
    return AS_OF + timedelta(days=draw(DELTA))


@st.composite
def cdms(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    """A small CDM: persons with coverage that does or does not reach the windows, and records in them."""
    concepts = _Concepts()
    t: dict[str, list[dict[str, Any]]] = {k: [] for k in COLUMNS}
    cond_pool = draw(st.lists(st.sampled_from(RULE_CONDITIONS), min_size=1, max_size=3, unique=True))
    med_pool = draw(st.lists(st.sampled_from(RULE_MEDICATIONS), min_size=1, max_size=2, unique=True))
    proc_pool = draw(st.lists(st.sampled_from(RULE_PROCEDURES), min_size=1, max_size=2, unique=True))

    def code(pool: list[str]) -> tuple[str, str]:
        choices = [c for concept in pool for c in _coded(concept)] or [UNKNOWN]
        return draw(st.sampled_from([*choices, UNKNOWN]))

    for i in range(draw(st.integers(1, 4))):
        pid = i + 1
        birth = AS_OF - timedelta(days=draw(st.integers(0, 90 * 366)))
        t["person"].append(
            {
                "person_id": pid,
                "gender_concept_id": draw(st.sampled_from([8507, 8532, 0])),
                "year_of_birth": birth.year,
                "month_of_birth": birth.month,
                "day_of_birth": birth.day,
                "birth_datetime": draw(st.sampled_from([None, f"{birth} 00:00:00"])),
            }
        )
        for _ in range(draw(st.integers(0, 2))):
            start = _day(draw)
            end = max(start, _day(draw) + timedelta(days=draw(st.sampled_from([0, 400]))))
            t["observation_period"].append(
                {
                    "observation_period_id": len(t["observation_period"]) + 1,
                    "person_id": pid,
                    "observation_period_start_date": start - timedelta(days=draw(st.sampled_from([0, 30, 2000]))),
                    "observation_period_end_date": end,
                    "period_type_concept_id": 44814724,
                }
            )
        if draw(st.integers(0, 5)) == 0:
            t["death"].append({"person_id": pid, "death_date": _day(draw), "death_type_concept_id": 32817})
        for _ in range(draw(st.integers(0, 4))):
            lab = draw(st.sampled_from(sorted(LAB_CODES)))
            system, lab_code = LAB_CODES[lab][0]
            units, values = NUMERIC_LABS[lab]
            unit = draw(st.sampled_from([u for u in [*UNITS, None] if u is None or u in units or u == "10*3/uL"]))
            t["measurement"].append(
                {
                    "measurement_id": len(t["measurement"]) + 1,
                    "person_id": pid,
                    "measurement_concept_id": concepts.id(system, lab_code),
                    "measurement_date": _day(draw),
                    "value_as_number": draw(st.sampled_from(cast("list[float]", values))),
                    "unit_concept_id": UNITS[unit] if unit else 0,
                    "measurement_source_value": lab_code,
                }
            )
        for _ in range(draw(st.integers(0, 3))):
            system, c = code(cond_pool)
            start = _day(draw)
            t["condition_occurrence"].append(
                {
                    "condition_occurrence_id": len(t["condition_occurrence"]) + 1,
                    "person_id": pid,
                    "condition_concept_id": concepts.id(system, c),
                    "condition_start_date": start,
                    "condition_end_date": draw(
                        st.one_of(st.none(), st.just(start + timedelta(days=draw(DELTA) + 900)))
                    ),
                    "condition_source_value": c,
                }
            )
        for _ in range(draw(st.integers(0, 3))):
            system, c = code(med_pool)
            start = _day(draw)
            ds = draw(st.sampled_from([None, 1, 30]))
            t["drug_exposure"].append(
                {
                    "drug_exposure_id": len(t["drug_exposure"]) + 1,
                    "person_id": pid,
                    "drug_concept_id": concepts.id(system, c),
                    "drug_exposure_start_date": start,
                    "drug_exposure_end_date": None if ds else start + timedelta(days=draw(st.integers(0, 60))),
                    "days_supply": ds,
                    "drug_source_value": c,
                }
            )
        for _ in range(draw(st.integers(0, 2))):
            system, c = code(proc_pool)
            t["procedure_occurrence"].append(
                {
                    "procedure_occurrence_id": len(t["procedure_occurrence"]) + 1,
                    "person_id": pid,
                    "procedure_concept_id": concepts.id(system, c),
                    "procedure_date": _day(draw),
                    "procedure_source_value": c,
                }
            )
    t["concept"] = concepts.rows()
    return t


def fhir_bundle(tables: dict[str, list[dict[str, Any]]], person_id: int) -> dict[str, Any]:
    """The person's rows as a FHIR R4 collection Bundle, straight from the CDM rows."""
    by_id = {r["concept_id"]: r for r in tables["concept"]}
    system_of = {v: k for k, v in VOCABULARY_ID.items()}

    def coding(concept_id: int) -> dict[str, Any]:
        c = by_id[concept_id]
        return {"coding": [{"system": URI[system_of[c["vocabulary_id"]]], "code": c["concept_code"]}]}

    person = next(p for p in tables["person"] if p["person_id"] == person_id)
    gender = {8507: "male", 8532: "female"}.get(person["gender_concept_id"], "unknown")
    born = date(person["year_of_birth"], person["month_of_birth"], person["day_of_birth"])
    patient: dict[str, Any] = {"resourceType": "Patient", "id": str(person_id), "gender": gender}
    # The reader's data-quality rule, stated: a birth after the data's end (the latest observation period
    # end) or after the person's death is not a birth date.
    ends = [p["observation_period_end_date"] for p in tables["observation_period"]]
    deaths = [d["death_date"] for d in tables["death"] if d["person_id"] == person_id]
    if not (ends and born > max(ends)) and not (deaths and born > min(deaths)):
        patient["birthDate"] = born.isoformat()
    resources: list[dict[str, Any]] = [patient]
    unit_name = {v: k for k, v in UNITS.items()}
    for m in (r for r in tables["measurement"] if r["person_id"] == person_id):
        quantity: dict[str, Any] = {"value": m["value_as_number"]}
        if m["unit_concept_id"]:
            quantity.update(system="http://unitsofmeasure.org", code=unit_name[m["unit_concept_id"]])
        resources.append(
            {
                "resourceType": "Observation",
                "status": "final",
                "subject": {"reference": f"Patient/{person_id}"},
                "code": coding(m["measurement_concept_id"]),
                "effectiveDateTime": m["measurement_date"].isoformat(),
                "valueQuantity": quantity,
            }
        )
    for c in (r for r in tables["condition_occurrence"] if r["person_id"] == person_id):
        res: dict[str, Any] = {
            "resourceType": "Condition",
            "subject": {"reference": f"Patient/{person_id}"},
            "code": coding(c["condition_concept_id"]),
            "onsetDateTime": c["condition_start_date"].isoformat(),
        }
        if c["condition_end_date"]:
            res["abatementDateTime"] = c["condition_end_date"].isoformat()
        resources.append(res)
    for d in (r for r in tables["drug_exposure"] if r["person_id"] == person_id):
        start = d["drug_exposure_start_date"]
        end = d["drug_exposure_end_date"] or start + timedelta(days=d["days_supply"] - 1)
        resources.append(
            {
                "resourceType": "MedicationStatement",
                "status": "completed",
                "subject": {"reference": f"Patient/{person_id}"},
                "medicationCodeableConcept": coding(d["drug_concept_id"]),
                "effectivePeriod": {"start": start.isoformat(), "end": end.isoformat()},
            }
        )
    for p in (r for r in tables["procedure_occurrence"] if r["person_id"] == person_id):
        resources.append(
            {
                "resourceType": "Procedure",
                "status": "completed",
                "subject": {"reference": f"Patient/{person_id}"},
                "code": coding(p["procedure_concept_id"]),
                "performedDateTime": p["procedure_date"].isoformat(),
            }
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
