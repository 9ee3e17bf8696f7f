"""OMOP CDM v5.3/v5.4 registries, staged in SQL into the tables the batch compiler reads.

What is read from where (no Python object per row; every mapping below is one query per table):

- ``person`` -> patients: birth date from ``birth_datetime``, else year/month/day (a year alone is not a
  date: unknown, reported); sex from ``gender_concept_id`` 8507 male / 8532 female, any other value unknown;
- ``measurement`` and the ``observation`` rows that carry a value -> observations: code from the row's
  concept (vocabulary and code), else its source concept, else its source value (system unknown); value
  ``value_as_number`` or ``value_as_concept_id`` read as positive/negative; unit the UCUM code of
  ``unit_concept_id``, else ``unit_source_value``, else none (a unit-bearing criterion is then unknown);
  ``range_low`` / ``range_high`` as the result's own reference range;
- ``condition_occurrence`` -> conditions (an end date means resolved on that day); ``drug_exposure`` ->
  medications (end date, else start + days_supply - 1, else the exposure dates are unknown: never
  'ongoing'); ``procedure_occurrence`` -> procedures;
- ``observation_period`` -> ``observation_periods``: absence of a record is proof only inside one
  (see ``evaluate.observed``); ``death`` -> ``deaths``: a deceased patient is never eligible.

Which of our concepts a CDM concept id stands for comes from the CDM's own vocabulary (:mod:`.omop_vocab`).
Bad data is reported in ``rejects`` (file or table, line or row, column, value, reason) and read as
unknown where it matters -- never silently dropped, never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..concepts import Vocabulary, default_vocabulary
from .omop_source import CdmSource, CdmTable, close_source, is_omop, read_source
from .omop_vocab import build_concepts, build_map
from .registry import Registry, _create_rejects, _finish, connect, lit

__all__ = ["is_omop", "load_omop"]  # is_omop: registry.load_registry detects a CDM with it

POSITIVE_IDS = (45884084, 9191, 45877985, 4126681)
NEGATIVE_IDS = (45878583, 9189, 45880296, 9190)
_POSITIVE_NAMES = ("positive", "detected", "reactive", "present")
_NEGATIVE_NAMES = ("negative", "not detected", "non-reactive", "nonreactive", "absent", "undetected")
EARLIEST = "1850-01-01"


def _day(col: str) -> str:
    """SQL: a CDM date or datetime text -> DATE (NULL when it is not one)."""
    return f"COALESCE(TRY_CAST(trim({col}) AS DATE), TRY_CAST(TRY_CAST(trim({col}) AS TIMESTAMP) AS DATE))"


def _text(col: str) -> str:
    return f"NULLIF(trim({col}), '')"


def _id(col: str) -> str:
    """SQL: a person_id as text, the same whichever type the source gave it ('6', 6, 6.0 -> '6')."""
    return f"NULLIF(regexp_replace(trim({col}), '\\.0+$', ''), '')"


class _Load:
    """One load: the connection, the source's tables and the data's end date."""

    def __init__(self, reg: Registry, src: CdmSource):
        self.reg = reg
        self.con: duckdb.DuckDBPyConnection = reg.con
        self.src = src
        row = self.con.execute(
            f"SELECT max({_day('observation_period_end_date')}) FROM cdm_observation_period"
        ).fetchone()
        end = row[0] if row else None
        if src.has("cdm_source"):
            rel = self.con.execute(f"SELECT max({_day('source_release_date')}) FROM cdm_cdm_source").fetchone()
            if rel and rel[0] and (end is None or rel[0] > end):
                end = rel[0]
        self.data_end = end

    def table(self, name: str) -> CdmTable:
        return self.src.tables[name]

    def report(self, table: str, select: str, kept: bool) -> None:
        """Rejects from ``select`` giving (rid, col, val, reason) over rows of CDM table ``table``."""
        t = self.table(table)
        self.con.execute(
            f"INSERT INTO rejects SELECT {lit(t.label)}, rid + {t.header_offset}, col, val, reason, {kept} "
            f"FROM ({select})"
        )


def load_omop(path: str | Path, con: duckdb.DuckDBPyConnection | None = None) -> Registry:
    """Stage an OMOP CDM (folder of CSV/Parquet, zip, or DuckDB file) as a registry."""
    reg = Registry(con=con or connect(), source=str(path))
    _create_rejects(reg.con)
    src = read_source(reg.con, Path(path))
    reg.files = {t.name: t.label for t in src.tables.values()}
    reg.notes.extend(src.notes)
    try:
        load = _Load(reg, src)
        vocab = default_vocabulary()
        build_concepts(reg.con, src.has("concept"))
        if src.has("concept"):
            mapped, missing = build_map(reg.con, vocab, src.has("concept_relationship"), src.has("concept_ancestor"))
            note = (
                f"CDM vocabulary: {mapped:,} concept ids stand for criterion concepts; {missing:,} of our codes "
                "are not in the CDM's concept table (table omop_missing)"
            )
            if not src.has("concept_ancestor"):
                note += "; concept_ancestor is empty, so descendants are not followed"
            reg.notes.append(note)
        else:
            build_map(reg.con, Vocabulary([]), False, False)
            reg.notes.append("no concept table: records are matched by their source values only")
        _persons(load)
        _periods(load)
        _deaths(load)
        _records(load)
        reg.extras = frozenset({"observation_periods", "deaths"})
        if load.data_end is not None:
            reg.notes.append(f"OMOP CDM: data end {load.data_end} (latest observation period end or release date)")
    finally:
        close_source(reg.con, src)
    return reg


def _persons(load: _Load) -> None:
    con = load.con
    birth_dt = _day("birth_datetime")
    ymd = (
        "TRY_CAST(printf('%04d-%02d-%02d', TRY_CAST(year_of_birth AS INT), TRY_CAST(month_of_birth AS INT), "
        "TRY_CAST(day_of_birth AS INT)) AS DATE)"
    )
    end = f"DATE '{load.data_end}'" if load.data_end else "NULL::DATE"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE om_person AS
            SELECT rid, {_id("person_id")} AS pid, TRY_CAST(gender_concept_id AS BIGINT) AS g,
                   COALESCE({birth_dt}, {ymd}) AS birth, {_text("year_of_birth")} AS year,
                   ROW_NUMBER() OVER (PARTITION BY {_id("person_id")} ORDER BY rid) AS k
            FROM cdm_person"""
    )
    load.report(
        "person",
        """SELECT rid, 'person_id' AS col, pid AS val,
                  CASE WHEN pid IS NULL THEN 'missing person_id (row left out)'
                       ELSE 'duplicate person_id (row left out; the first row is used)' END AS reason
           FROM om_person WHERE pid IS NULL OR k > 1""",
        False,
    )
    con.execute("DELETE FROM om_person WHERE pid IS NULL OR k > 1")
    death = (
        f"(SELECT min({_day('death_date')}) FROM cdm_death d WHERE {_id('d.person_id')} = om_person.pid)"
        if load.src.has("death")
        else "NULL::DATE"
    )
    con.execute(f"ALTER TABLE om_person ADD COLUMN died DATE; UPDATE om_person SET died = {death}")
    bad_birth = f"""CASE WHEN birth IS NULL AND year IS NOT NULL
                              THEN 'no full birth date (year ' || year || ' only): age unknown'
                         WHEN birth IS NULL THEN NULL
                         WHEN birth < DATE '{EARLIEST}' THEN 'birth date out of range (before {EARLIEST}): age unknown'
                         WHEN birth > {end} THEN 'birth after the data''s end ({load.data_end}): age unknown'
                         WHEN birth > died THEN 'birth after death (' || died || '): age unknown' END"""
    con.execute(f"ALTER TABLE om_person ADD COLUMN bad VARCHAR; UPDATE om_person SET bad = {bad_birth}")
    load.report(
        "person",
        "SELECT rid, 'birth_datetime' AS col, CAST(birth AS VARCHAR) AS val, bad || ' (kept as unknown)' AS reason "
        "FROM om_person WHERE bad IS NOT NULL",
        True,
    )
    load.report(
        "person",
        """SELECT rid, 'gender_concept_id' AS col, CAST(g AS VARCHAR) AS val,
                  'gender_concept_id is neither 8507 (male) nor 8532 (female): sex unknown (kept)' AS reason
           FROM om_person WHERE g IS NOT NULL AND g NOT IN (8507, 8532)""",
        True,
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE clean_patients AS
           SELECT rid, pid AS patient_id, CASE WHEN bad IS NULL THEN birth END AS birth_date,
                  CASE g WHEN 8507 THEN 'male' WHEN 8532 THEN 'female' ELSE CASE WHEN g IS NOT NULL THEN 'unknown' END
                  END AS sex
           FROM om_person"""
    )
    _finish(con, "patients")
    con.execute("DROP TABLE om_person")


def _periods(load: _Load) -> None:
    con = load.con
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE om_period AS
            SELECT rid, {_id("person_id")} AS pid, {_day("observation_period_start_date")} AS s,
                   {_day("observation_period_end_date")} AS e FROM cdm_observation_period"""
    )
    load.report(
        "observation_period",
        """SELECT rid, CASE WHEN p.patient_id IS NULL THEN 'person_id' ELSE 'observation_period_end_date' END AS col,
                  CASE WHEN p.patient_id IS NULL THEN o.pid ELSE CAST(o.e AS VARCHAR) END AS val,
                  CASE WHEN p.patient_id IS NULL THEN 'person_id not in the person table (row left out)'
                       WHEN o.s IS NULL OR o.e IS NULL THEN 'no readable start or end date (row left out)'
                       ELSE 'ends before it starts (row left out)' END AS reason
           FROM om_period o LEFT JOIN patients p ON p.patient_id = o.pid
           WHERE p.patient_id IS NULL OR o.s IS NULL OR o.e IS NULL OR o.e < o.s""",
        False,
    )
    con.execute(
        """CREATE OR REPLACE TABLE observation_periods AS
           SELECT o.pid AS patient_id, o.s AS start_date, o.e AS end_date FROM om_period o
           JOIN patients p ON p.patient_id = o.pid WHERE o.s IS NOT NULL AND o.e IS NOT NULL AND o.e >= o.s"""
    )
    con.execute("DROP TABLE om_period")


def _deaths(load: _Load) -> None:
    con = load.con
    if not load.src.has("death"):
        con.execute("CREATE OR REPLACE TABLE deaths (patient_id VARCHAR, death_date DATE)")
        return
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE om_death AS
            SELECT rid, {_id("person_id")} AS pid, COALESCE({_day("death_date")}, {_day("death_datetime")}) AS d,
                   ROW_NUMBER() OVER (PARTITION BY {_id("person_id")}
                                      ORDER BY COALESCE({_day("death_date")}, {_day("death_datetime")}), rid) AS k
            FROM cdm_death"""
    )
    end = f"DATE '{load.data_end}'" if load.data_end else "NULL::DATE"
    load.report(
        "death",
        """SELECT rid, CASE WHEN p.patient_id IS NULL THEN 'person_id' ELSE 'death_date' END AS col,
                  CASE WHEN p.patient_id IS NULL THEN o.pid ELSE CAST(o.d AS VARCHAR) END AS val,
                  CASE WHEN p.patient_id IS NULL THEN 'person_id not in the person table (row left out)'
                       WHEN o.d IS NULL THEN 'death without a readable date (row left out)'
                       ELSE 'a second death record (row left out; the earliest is used)' END AS reason
           FROM om_death o LEFT JOIN patients p ON p.patient_id = o.pid
           WHERE p.patient_id IS NULL OR o.d IS NULL OR o.k > 1""",
        False,
    )
    load.report(
        "death",
        f"""SELECT rid, 'death_date' AS col, CAST(d AS VARCHAR) AS val,
                   'death after the data''s end ({load.data_end}) (kept)' AS reason
            FROM om_death WHERE k = 1 AND d > {end}""",
        True,
    )
    con.execute(
        """CREATE OR REPLACE TABLE deaths AS SELECT o.pid AS patient_id, o.d AS death_date FROM om_death o
           JOIN patients p ON p.patient_id = o.pid WHERE o.k = 1 AND o.d IS NOT NULL"""
    )
    con.execute("DROP TABLE om_death")


@dataclass(frozen=True)
class _Spec:
    """One CDM event table -> one staged record table: its column prefix and the staged value columns."""

    cdm: str
    staged: str
    prefix: str
    values: tuple[tuple[str, str], ...]  # (staged column, SQL over the CDM row with aliases t, u, vc)
    dates: tuple[tuple[str, str], ...]  # (CDM date column, its datetime fallback) checked and reported
    where: str = "true"


_RESULT = f"""CASE WHEN TRY_CAST(t.value_as_concept_id AS BIGINT) IN {POSITIVE_IDS}
                    OR lower(vc.name) IN {_POSITIVE_NAMES} THEN 'positive'
                   WHEN TRY_CAST(t.value_as_concept_id AS BIGINT) IN {NEGATIVE_IDS}
                    OR lower(vc.name) IN {_NEGATIVE_NAMES} THEN 'negative' END"""
_UNIT = f"CASE WHEN u.code IS NOT NULL THEN u.code ELSE {_text('t.unit_source_value')} END"
_NUMBER = "TRY_CAST(t.value_as_number AS DOUBLE)"
_VALUE = f"CASE WHEN {_NUMBER} >= 0 AND isfinite({_NUMBER}) THEN {_NUMBER} END"


def _lab(cdm: str, prefix: str, ranges: bool) -> _Spec:
    ref = (
        ("ref_low", "TRY_CAST(t.range_low AS DOUBLE)"),
        ("ref_high", "TRY_CAST(t.range_high AS DOUBLE)"),
    )
    return _Spec(
        cdm,
        "observations",
        prefix,
        (
            ("value", _VALUE),
            ("unit", _UNIT),
            ("result", _RESULT),
            ("effective", f"COALESCE({_day(f't.{prefix}_date')}, {_day(f't.{prefix}_datetime')})"),
            *(ref if ranges else (("ref_low", "NULL::DOUBLE"), ("ref_high", "NULL::DOUBLE"))),
        ),
        ((f"{prefix}_date", f"{prefix}_datetime"),),
        # observation rows are read for their values only (a lab, a score, a test result)
        "true"
        if ranges
        else f"(t.value_as_number IS NOT NULL AND trim(t.value_as_number) <> '') OR ({_RESULT}) IS NOT NULL",
    )


_START = _day("t.drug_exposure_start_date")
_END = f"""COALESCE({_day("t.drug_exposure_end_date")},
                    CASE WHEN TRY_CAST(t.days_supply AS INT) > 0
                         THEN {_START} + TRY_CAST(t.days_supply AS INT) - 1 END)"""
_DATED = f"({_END}) IS NOT NULL AND ({_END}) >= {_START}"
SPECS = (
    _lab("measurement", "measurement", True),
    _lab("observation", "observation", False),
    _Spec(
        "condition_occurrence",
        "conditions",
        "condition",
        (
            ("onset", f"COALESCE({_day('t.condition_start_date')}, {_day('t.condition_start_datetime')})"),
            ("abatement", _day("t.condition_end_date")),
            ("status", f"CASE WHEN {_day('t.condition_end_date')} IS NOT NULL THEN 'resolved' ELSE 'active' END"),
        ),
        (("condition_start_date", "condition_start_datetime"), ("condition_end_date", "condition_end_date")),
    ),
    _Spec(
        "drug_exposure",
        "medications",
        "drug",
        (
            ("start_date", f"CASE WHEN {_DATED} THEN {_START} END"),
            ("end_date", f"CASE WHEN {_DATED} THEN {_END} END"),
        ),
        (("drug_exposure_start_date", "drug_exposure_start_datetime"),),
    ),
    _Spec(
        "procedure_occurrence",
        "procedures",
        "procedure",
        (("performed", f"COALESCE({_day('t.procedure_date')}, {_day('t.procedure_datetime')})"),),
        (("procedure_date", "procedure_datetime"),),
    ),
)


def _records(load: _Load) -> None:
    offset = 0
    staged: dict[str, list[str]] = {}
    for spec in SPECS:
        if spec.cdm not in load.src.tables:
            continue
        offset = _stage_records(load, spec, offset)
        staged.setdefault(spec.staged, []).append(f"om_{spec.cdm}")
    from .registry import SCHEMA

    for table in ("observations", "conditions", "medications", "procedures"):
        cols = ", ".join(c.target for c in SCHEMA[table])
        parts = staged.get(table, [])
        if len(parts) == 1:  # one CDM table: its staged rows are clean_<table> as they are (no copy)
            load.con.execute(f"ALTER TABLE {parts[0]} RENAME TO clean_{table}")
            parts = []
        else:
            if parts:
                union = " UNION ALL ".join(f"SELECT rid, {cols} FROM {p}" for p in parts)
            else:
                nulls = ", ".join(f"NULL AS {c.target}" for c in SCHEMA[table])
                union = f"SELECT 0::BIGINT AS rid, {nulls} LIMIT 0"
            load.con.execute(f"CREATE OR REPLACE TEMP TABLE clean_{table} AS {union}")
        _finish(load.con, table)
        for p in parts:
            load.con.execute(f"DROP TABLE {p}")


def _concept_join(alias: str, column: str) -> str:
    on = f"{alias}.concept_id = TRY_CAST(t.{column} AS BIGINT) AND {alias}.concept_id <> 0"
    return f"LEFT JOIN omop_concept {alias} ON {on}"


def _stage_records(load: _Load, spec: _Spec, offset: int) -> int:
    """om_<cdm>(rid, staged columns) for one event table, with its rejects. Returns the next rid offset."""
    con, p = load.con, spec.prefix
    has_concepts = load.src.has("concept")
    values = ", ".join(f"{sql} AS {col}" for col, sql in spec.values)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE om_base AS
            SELECT t.rid, {_id("t.person_id")} AS pid, TRY_CAST(t.{p}_concept_id AS BIGINT) AS cid,
                   TRY_CAST(t.{p}_source_concept_id AS BIGINT) AS scid, {_text(f"t.{p}_source_value")} AS sv,
                   c.concept_id IS NOT NULL AS known, sc.concept_id IS NOT NULL AS sknown,
                   CASE WHEN c.concept_id IS NOT NULL THEN c.system ELSE sc.system END AS system,
                   CASE WHEN c.concept_id IS NOT NULL THEN c.code WHEN sc.concept_id IS NOT NULL THEN sc.code
                        ELSE {_text(f"t.{p}_source_value")} END AS code,
                   COALESCE(c.name, sc.name, {_text(f"t.{p}_source_value")}) AS text, {values}
            FROM cdm_{spec.cdm} t
            LEFT JOIN omop_concept c ON c.concept_id = TRY_CAST(t.{p}_concept_id AS BIGINT) AND c.concept_id <> 0
            LEFT JOIN omop_concept sc ON sc.concept_id = TRY_CAST(t.{p}_source_concept_id AS BIGINT)
                 AND sc.concept_id <> 0
            {_concept_join("u", "unit_concept_id") if "unit" in dict(spec.values) else ""}
            {_concept_join("vc", "value_as_concept_id") if "result" in dict(spec.values) else ""}
            WHERE {spec.where}"""
    )
    names = "sv IS NOT NULL OR sknown"
    load.report(
        spec.cdm,
        f"""SELECT b.rid, CASE WHEN p.patient_id IS NULL THEN 'person_id' ELSE '{p}_concept_id' END AS col,
                   CASE WHEN p.patient_id IS NULL THEN b.pid ELSE CAST(b.cid AS VARCHAR) END AS val,
                   CASE WHEN b.pid IS NULL THEN 'missing person_id (row left out)'
                        WHEN p.patient_id IS NULL THEN 'person_id not in the person table (row left out)'
                        ELSE 'concept id ' || COALESCE(CAST(b.cid AS VARCHAR), 'missing')
                             || ' and no source value or source concept: the row names nothing (row left out)' END
                   AS reason
            FROM om_base b LEFT JOIN patients p ON p.patient_id = b.pid
            WHERE p.patient_id IS NULL OR (NOT b.known AND NOT ({names}))""",
        False,
    )
    con.execute(
        "DELETE FROM om_base WHERE pid IS NULL OR pid NOT IN (SELECT patient_id FROM patients) "
        f"OR (NOT known AND NOT ({names}))"
    )
    unmapped = f"""CASE WHEN cid IS NULL OR cid = 0 THEN 'concept id 0 (unmapped)'
                        ELSE 'concept id ' || cid || ' not in the CDM''s concept table' END
                   || CASE WHEN sknown THEN ': read from {p}_source_concept_id'
                           ELSE ': read from {p}_source_value (system unknown)' END"""
    load.report(
        spec.cdm,
        f"SELECT rid, '{p}_concept_id' AS col, CAST(cid AS VARCHAR) AS val, {unmapped} AS reason FROM om_base "
        f"WHERE NOT known{'' if has_concepts else ' AND (cid IS NULL OR cid = 0)'}",
        True,
    )
    _report_values(load, spec)
    cols = [c for c, _ in spec.values]
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE om_{spec.cdm} AS
            SELECT b.rid + {offset} AS rid, b.pid AS patient_id, b.system, b.code, m.concept, b.text,
                   {", ".join(f"b.{c}" for c in cols)}
            FROM om_base b LEFT JOIN omop_map m
              ON m.concept_id = CASE WHEN b.cid IN (SELECT concept_id FROM omop_map) THEN b.cid ELSE b.scid END"""
    )
    row = con.execute("SELECT COALESCE(max(rid), -1) + 1 FROM om_base").fetchone()
    con.execute("DROP TABLE om_base")
    return offset + (int(row[0]) if row else 0)


def _report_values(load: _Load, spec: _Spec) -> None:
    """Dates that are not dates or out of range, values that cannot be used, exposures without dates."""
    end = f"DATE '{load.data_end}'" if load.data_end else "DATE '2100-01-01'"
    for col, fallback in spec.dates:
        raw = f"t.{col}"
        load.report(
            spec.cdm,
            f"""SELECT t.rid, '{col}' AS col, {_text(raw)} AS val,
                       CASE WHEN COALESCE({_day(raw)}, {_day(f"t.{fallback}")}) IS NULL
                            THEN 'not a date (kept as unknown)'
                            WHEN {_day(raw)} < DATE '{EARLIEST}' THEN 'date out of range (before {EARLIEST}) (kept)'
                            ELSE 'date after the data''s end ({load.data_end}) (kept)' END AS reason
                FROM cdm_{spec.cdm} t JOIN om_base b ON b.rid = t.rid
                WHERE ({_text(raw)} IS NOT NULL AND COALESCE({_day(raw)}, {_day(f"t.{fallback}")}) IS NULL)
                   OR {_day(raw)} < DATE '{EARLIEST}' OR {_day(raw)} > {end}""",
            True,
        )
    if spec.staged == "observations":
        load.report(
            spec.cdm,
            f"""SELECT t.rid, 'value_as_number' AS col, {_text("t.value_as_number")} AS val,
                       CASE WHEN {_NUMBER} < 0 THEN 'below zero: not a measurement (kept without a value)'
                            ELSE 'not a finite number (kept as unknown)' END AS reason
                FROM cdm_{spec.cdm} t JOIN om_base b ON b.rid = t.rid
                WHERE {_text("t.value_as_number")} IS NOT NULL AND b.value IS NULL""",
            True,
        )
        load.report(
            spec.cdm,
            """SELECT rid, 'unit_concept_id' AS col, NULL AS val,
                       'value without a unit (unit_concept_id 0, no unit_source_value): unknown where a unit is needed'
                       AS reason FROM om_base WHERE value IS NOT NULL AND unit IS NULL""",
            True,
        )
    if spec.staged == "medications":
        load.report(
            spec.cdm,
            f"""SELECT t.rid, 'drug_exposure_end_date' AS col, {_text("t.drug_exposure_end_date")} AS val,
                       CASE WHEN ({_END}) IS NULL
                            THEN 'no end date and no days_supply: exposure dates unknown (kept undated)'
                            ELSE 'ends before it starts: exposure dates unknown (kept undated)' END AS reason
                FROM cdm_drug_exposure t JOIN om_base b ON b.rid = t.rid
                WHERE {_START} IS NOT NULL AND b.start_date IS NULL""",
            True,
        )
