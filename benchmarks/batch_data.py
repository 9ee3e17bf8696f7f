# ruff: noqa: E501  (long lines are SQL text)
"""Seeded synthetic registries for the batch benchmarks (DuckDB writes them; no Python rows).

``generate``: the long format (patients / observations / conditions / medications / procedures Parquet, about
20 observations a patient in mixed units); ``generate_omop``: an OMOP CDM v5.4 as Parquet (issue 14).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

AS_OF = date(2026, 1, 15)

# (loinc code, unit, low, high): realistic spellings of each lab's units.
LABS = [
    ("777-3", "10*3/uL", 5, 400),
    ("26515-7", "10^9/L", 5, 400),
    ("1742-6", "U/L", 5, 200),
    ("1920-8", "U/L", 5, 200),
    ("2160-0", "mg/dL", 0.3, 3.0),
    ("14682-9", "umol/L", 30, 250),
    ("718-7", "g/dL", 8, 17),
    ("6690-2", "10*3/uL", 2, 15),
    ("2345-7", "mg/dL", 60, 200),
    ("2823-3", "mmol/L", 3, 6),
]


def generate(folder: Path, patients: int, seed: float = 0.42) -> None:
    """Write patients/observations/conditions/medications/procedures Parquet files (DuckDB, no Python rows)."""
    con = duckdb.connect()
    con.execute("SET threads = 1")  # random() is reproducible only on one thread
    con.execute(f"SELECT setseed({seed})")
    labs = ", ".join(f"('{c}', '{u}', {lo}, {hi})" for c, u, lo, hi in LABS)
    con.execute(f"CREATE TABLE labs(code, unit, lo, hi) AS VALUES {labs}")
    con.execute(
        f"""COPY (SELECT 'p' || i AS patient_id, DATE '1950-01-01' + CAST(random() * 25000 AS INTEGER) AS birth_date,
                   CASE WHEN random() < 0.5 THEN 'female' ELSE 'male' END AS sex FROM range({patients}) t(i))
            TO '{folder}/patients.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT 'p' || (i // 20) AS patient_id, 'http://loinc.org' AS system, l.code,
                   round(l.lo + random() * (l.hi - l.lo), 2) AS value, l.unit,
                   DATE '{AS_OF}' - CAST(random() * 200 AS INTEGER) AS effective,
                   NULL::DOUBLE AS ref_low, CASE WHEN random() < 0.3 THEN 40.0 END AS ref_high
                 FROM range({patients * 20}) t(i) JOIN labs l ON l.rowid = CAST(hash(i) % 10 AS BIGINT))
            TO '{folder}/observations.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT 'p' || CAST(floor(random() * {patients}) AS BIGINT) AS patient_id, 'icd10cm' AS system,
                   ['D69.3', 'I21.9', 'C50.9', 'I10', 'E11.9', 'D68.5', 'O80'][1 + CAST(floor(random() * 7) AS INT)] AS code,
                   DATE '{AS_OF}' - CAST(random() * 3000 AS INTEGER) AS onset, NULL::DATE AS abatement,
                   CASE WHEN random() < 0.8 THEN 'active' ELSE 'resolved' END AS status
                 FROM range({patients * 2}))
            TO '{folder}/conditions.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT 'p' || CAST(floor(random() * {patients}) AS BIGINT) AS patient_id, 'atc' AS system,
                   ['H02AB07', 'B01AC06', 'M01AE01', 'C09AA03', 'A10BA02'][1 + CAST(floor(random() * 5) AS INT)] AS code,
                   DATE '{AS_OF}' - CAST(random() * 400 AS INTEGER) AS start,
                   CASE WHEN random() < 0.5 THEN DATE '{AS_OF}' - CAST(random() * 30 AS INTEGER) END AS "end"
                 FROM range({patients * 2}))
            TO '{folder}/medications.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT 'p' || CAST(floor(random() * {patients}) AS BIGINT) AS patient_id, 'snomed' AS system,
                   '234319005' AS code, DATE '{AS_OF}' - CAST(random() * 5000 AS INTEGER) AS performed
                 FROM range({max(patients // 5, 1)}))
            TO '{folder}/procedures.parquet' (FORMAT parquet)"""
    )


# The same criteria of NCT06352281 as a person would write them in DuckDB over the same staged tables
# (see the module docstring for what is simplified). {k_<concept>} are descriptor keys resolved with the


# ---- OMOP CDM registries (issue 14) -----------------------------------------------------------------
# (concept_id, name, domain, vocabulary, code, standard): real OMOP concept ids where they are well known
# (LOINC labs, UCUM units, gender); the rest are ids of the same shape. Conditions come as SNOMED standard
# concepts with ICD-10-CM source concepts that 'Maps to' them, as an ETL writes them; drugs as RxNorm
# clinical drugs whose ingredient is reached through concept_ancestor.
OMOP_CONCEPTS = [
    (3024929, "Platelets [#/volume] in Blood", "Measurement", "LOINC", "777-3", "S"),
    (3006923, "ALT [Enzymatic activity/volume]", "Measurement", "LOINC", "1742-6", "S"),
    (3013721, "AST [Enzymatic activity/volume]", "Measurement", "LOINC", "1920-8", "S"),
    (3016723, "Creatinine [Mass/volume]", "Measurement", "LOINC", "2160-0", "S"),
    (3000963, "Hemoglobin [Mass/volume]", "Measurement", "LOINC", "718-7", "S"),
    (8848, "thousand per microliter", "Unit", "UCUM", "10*3/uL", "S"),
    (8645, "unit per liter", "Unit", "UCUM", "U/L", "S"),
    (8840, "milligram per deciliter", "Unit", "UCUM", "mg/dL", "S"),
    (8713, "gram per deciliter", "Unit", "UCUM", "g/dL", "S"),
    (8749, "micromole per liter", "Unit", "UCUM", "umol/L", "S"),
    (4000001, "Idiopathic thrombocytopenic purpura", "Condition", "SNOMED", "32273002", "S"),
    (4329847, "Myocardial infarction", "Condition", "SNOMED", "22298006", "S"),
    (4000003, "Malignant tumor of colon", "Condition", "SNOMED", "363406005", "S"),
    (320128, "Essential hypertension", "Condition", "SNOMED", "59621000", "S"),
    (201826, "Type 2 diabetes mellitus", "Condition", "SNOMED", "44054006", "S"),
    (4000006, "Chronic congestive heart failure", "Condition", "SNOMED", "88805009", "S"),
    (45000001, "Immune thrombocytopenic purpura", "Condition", "ICD10CM", "D69.3", None),
    (45000002, "Acute myocardial infarction, unspecified", "Condition", "ICD10CM", "I21.9", None),
    (45000003, "Malignant neoplasm of colon, unspecified", "Condition", "ICD10CM", "C18.9", None),
    (1191, "aspirin", "Drug", "RxNorm", "1191", "S"),
    (1310149, "warfarin", "Drug", "RxNorm", "11289", "S"),
    (1551099, "prednisone", "Drug", "RxNorm", "8640", "S"),
    (19000001, "aspirin 81 MG Oral Tablet", "Drug", "RxNorm", "243670", "S"),
    (19000002, "warfarin sodium 5 MG Oral Tablet", "Drug", "RxNorm", "855332", "S"),
    (19000003, "prednisone 20 MG Oral Tablet", "Drug", "RxNorm", "312617", "S"),
    (4000010, "Splenectomy", "Procedure", "SNOMED", "234319005", "S"),
]
OMOP_MAPS = [(45000001, 4000001), (45000002, 4329847), (45000003, 4000003)]
OMOP_ANCESTORS = [(1191, 19000001), (1310149, 19000002), (1551099, 19000003)]
# measurement concept, unit concept, UCUM code, low, high
OMOP_LABS = [(3024929, 8848, "10*3/uL", 5, 400), (3006923, 8645, "U/L", 5, 200), (3013721, 8645, "U/L", 5, 200),
             (3016723, 8840, "mg/dL", 0.3, 3.0), (3000963, 8713, "g/dL", 8, 17)]  # fmt: skip


def generate_omop(folder: Path, persons: int, seed: float = 0.42) -> None:
    """A seeded OMOP CDM v5.4 as Parquet (DuckDB, no Python rows): person, observation_period (1-2 per
    person; 15 % end before the screening date), death (1 %), 20 measurements per person (5 % unit only in
    unit_source_value, 1 % concept 0 with the LOINC code as source value), 2 conditions (SNOMED standard,
    ICD-10-CM source), 2 drug exposures (clinical drugs, end date or days_supply), 0.2 procedures, and the
    vocabulary tables concept, concept_relationship ('Maps to') and concept_ancestor."""
    con = duckdb.connect()
    con.execute("SET threads = 1")  # random() is reproducible only on one thread
    con.execute(f"SELECT setseed({seed})")
    f = str(folder)
    rows = ", ".join(
        f"({c}, '{nm}', '{d}', '{v}', '{code}', {'NULL' if s is None else repr(s)})"
        for c, nm, d, v, code, s in OMOP_CONCEPTS
    )
    con.execute(
        "CREATE TABLE concept(concept_id, concept_name, domain_id, vocabulary_id, concept_code, standard_concept) "
        f"AS VALUES {rows}"
    )
    con.execute(f"COPY concept TO '{f}/concept.parquet' (FORMAT parquet)")
    maps = ", ".join(f"({a}, {b}, 'Maps to')" for a, b in OMOP_MAPS)
    con.execute(f"COPY (SELECT * FROM (VALUES {maps}) t(concept_id_1, concept_id_2, relationship_id)) "
                f"TO '{f}/concept_relationship.parquet' (FORMAT parquet)")  # fmt: skip
    anc = ", ".join(f"({a}, {b}), ({a}, {a}), ({b}, {b})" for a, b in OMOP_ANCESTORS)
    con.execute(f"COPY (SELECT DISTINCT * FROM (VALUES {anc}) t(ancestor_concept_id, descendant_concept_id)) "
                f"TO '{f}/concept_ancestor.parquet' (FORMAT parquet)")  # fmt: skip
    con.execute(
        f"""CREATE TABLE person AS SELECT i + 1 AS person_id,
                   CASE WHEN random() < 0.02 THEN 0 WHEN random() < 0.5 THEN 8532 ELSE 8507 END AS gender_concept_id,
                   DATE '1940-01-01' + CAST(random() * 27000 AS INTEGER) AS b FROM range({persons}) t(i)"""
    )
    con.execute(
        f"""COPY (SELECT person_id, gender_concept_id, year(b) AS year_of_birth, month(b) AS month_of_birth,
                   day(b) AS day_of_birth, CAST(b AS TIMESTAMP) AS birth_datetime FROM person)
            TO '{f}/person.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT row_number() OVER () AS observation_period_id, person_id,
                   greatest(b, DATE '{AS_OF}' - CAST(2000 + random() * 4000 AS INTEGER)) AS observation_period_start_date,
                   CASE WHEN random() < 0.15 THEN DATE '{AS_OF}' - CAST(30 + random() * 700 AS INTEGER)
                        ELSE DATE '{AS_OF}' + 60 END AS observation_period_end_date, 44814724 AS period_type_concept_id
                 FROM person, range(CASE WHEN person_id % 10 = 0 THEN 2 ELSE 1 END))
            TO '{f}/observation_period.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT person_id, DATE '{AS_OF}' - CAST(random() * 900 AS INTEGER) AS death_date,
                   32817 AS death_type_concept_id FROM person WHERE random() < 0.01)
            TO '{f}/death.parquet' (FORMAT parquet)"""
    )
    labs = ", ".join(f"({c}, {u}, '{code}', {lo}, {hi})" for c, u, code, lo, hi in OMOP_LABS)
    con.execute(f"CREATE TABLE labs(concept_id, unit_id, unit, lo, hi) AS VALUES {labs}")
    con.execute(
        f"""COPY (SELECT i + 1 AS measurement_id, i // 20 + 1 AS person_id,
                   CASE WHEN r < 0.01 THEN 0 ELSE l.concept_id END AS measurement_concept_id,
                   DATE '{AS_OF}' - CAST(random() * 200 AS INTEGER) AS measurement_date,
                   round(l.lo + random() * (l.hi - l.lo), 2) AS value_as_number,
                   CASE WHEN r BETWEEN 0.01 AND 0.06 THEN 0 ELSE l.unit_id END AS unit_concept_id, l.unit AS unit_source_value,
                   NULL::DOUBLE AS range_low, CASE WHEN random() < 0.3 THEN 40.0 END AS range_high,
                   c.concept_code AS measurement_source_value, 0 AS measurement_source_concept_id
                 FROM (SELECT i, random() AS r FROM range({persons * 20}) t(i)) x
                 JOIN labs l ON l.rowid = CAST(hash(i) % 5 AS BIGINT) JOIN concept c ON c.concept_id = l.concept_id)
            TO '{f}/measurement.parquet' (FORMAT parquet)"""
    )
    conds = "[(4000001, 45000001), (4329847, 45000002), (4000003, 45000003), (320128, 0), (201826, 0), (4000006, 0)]"
    con.execute(
        f"""COPY (SELECT i + 1 AS condition_occurrence_id, CAST(floor(random() * {persons}) AS BIGINT) + 1 AS person_id,
                   pair[1] AS condition_concept_id, pair[2] AS condition_source_concept_id,
                   DATE '{AS_OF}' - CAST(random() * 3000 AS INTEGER) AS condition_start_date,
                   CASE WHEN random() < 0.2 THEN DATE '{AS_OF}' - CAST(random() * 100 AS INTEGER) END AS condition_end_date
                 FROM (SELECT i, {conds}[1 + CAST(floor(random() * 6) AS INT)] AS pair FROM range({persons * 2}) t(i)))
            TO '{f}/condition_occurrence.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT i + 1 AS drug_exposure_id, CAST(floor(random() * {persons}) AS BIGINT) + 1 AS person_id,
                   [19000001, 19000002, 19000003][1 + CAST(floor(random() * 3) AS INT)] AS drug_concept_id, s AS drug_exposure_start_date,
                   CASE WHEN random() < 0.5 THEN s + CAST(random() * 60 AS INTEGER) END AS drug_exposure_end_date,
                   30 AS days_supply
                 FROM (SELECT i, DATE '{AS_OF}' - CAST(random() * 400 AS INTEGER) AS s FROM range({persons * 2}) t(i)))
            TO '{f}/drug_exposure.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT i + 1 AS procedure_occurrence_id, CAST(floor(random() * {persons}) AS BIGINT) + 1 AS person_id,
                   4000010 AS procedure_concept_id, DATE '{AS_OF}' - CAST(random() * 5000 AS INTEGER) AS procedure_date
                 FROM range({max(persons // 5, 1)}) t(i))
            TO '{f}/procedure_occurrence.parquet' (FORMAT parquet)"""
    )
