"""FHIR Bulk Data (NDJSON) registries, loaded straight into DuckDB (no Python object per resource).

A folder holding ``Patient*.ndjson`` is read as a FHIR Bulk Data export. The files named after a
mapped resource type (``Patient``, ``Observation``, ``Condition``, ``Medication*`` -- MedicationRequest,
MedicationStatement, MedicationAdministration and the Medications they reference --, ``Procedure``,
``AllergyIntolerance``; ``.ndjson`` or ``.ndjson.gz``) are read line by line as text, parsed with
DuckDB's JSON functions and mapped in SQL into exactly the staged tables the CSV/Parquet loader
produces (see :mod:`.registry`), so the compiler runs unchanged. Every line is routed by its own
``resourceType``, not by its file name.

The mapping is the one :mod:`eligibility.io.fhir` applies to a Bundle, decision for decision (which
coding a record keeps, UCUM units, comparators, qualitative answers, reference ranges, statuses that
void a resource, Condition clinical status, medication exposure dates, ``onset[x]`` / ``performed[x]``
including ages), so that batch results equal per-patient screening; ``tests/test_batch_ndjson.py``
checks that patient by patient. The few lookups that need the project's Python functions run once per
*distinct value*, never per resource: which (system, code) pairs the vocabulary maps to a concept
(to choose among codings) and the unit factor between a reference range's unit and its value's unit.

Bad lines -- invalid JSON, not an object, no ``resourceType``, a record without a resolvable subject,
a Patient without id or a repeated one, a resource naming nothing -- are reported in the registry's
``rejects`` table (file, line, reason) and left out; an unreadable date or gender is reported and read
as unknown. Partial dates (``2019``, ``2019-05``) are read as unknown, as in the Bundle path, and
counted in the notes with voided resources, refuted conditions, stopped orders without an end date and
resource types that are not mapped.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..concepts import KNOWN_SYSTEMS, LOCAL_ROUTE, default_vocabulary
from ..errors import InputError
from ..evaluate import SYSTEM_ALIASES
from ..io.fhir import _Mapper
from ..io.fhir_values import (
    _ALLERGY_STATUSES,
    _ANSWER_CODES,
    _CONDITION_STATUSES,
    _NEGATIVE_TEXT,
    _ONGOING_STATUS,
    _POSITIVE_TEXT,
    _PREFERRED_SYSTEMS,
    _VOID_STATUS,
    ALLERGY_CATEGORY_CONCEPTS,
    ALLERGY_UNCLASSIFIED,
    MAPPED_TYPES,
    local_route_pattern,
    non_food_allergen_pattern,
)
from ..patient import BAD_RANGE
from .registry import MEASURE_REASON, SCHEMA, UNTRUSTED_RANGE, Registry, _create_rejects, _finish, connect, lit

__all__ = ["MAPPED_PREFIXES", "is_fhir_bulk", "load_fhir_bulk"]

#: File name prefixes read and mapped (lines are routed by their resourceType).
MAPPED_PREFIXES = ("Patient", "Observation", "Condition", "Medication", "Procedure", "AllergyIntolerance")
# Resource types that become records (the Bundle reader's mapped types, minus the patient itself and
# the Medication resources that only name a drug for a request).
_RECORD_TYPES = tuple(sorted(MAPPED_TYPES - {"Patient", "Medication"}))
_MAX_LINE = 1 << 28  # 256 MiB: one resource per line, some (bundled claims) are large

# A FHIR date / dateTime / instant: its calendar day is the first ten characters (local day).
_DATETIME_RE = r"\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))?)?)?"
_DATE_RE = r"\d{4}(-\d{2}(-\d{2})?)?"
_PARTIAL_RE = r"\d{4}(-\d{2})?"


def is_fhir_bulk(directory: str | Path) -> bool:
    """A folder holding Patient*.ndjson is read as a FHIR Bulk Data export."""
    path = Path(directory)
    return path.is_dir() and (any(path.glob("Patient*.ndjson")) or any(path.glob("Patient*.ndjson.gz")))


def _files(path: Path) -> tuple[list[Path], list[Path]]:
    """(files to map, other NDJSON files) in name order."""
    every = sorted({*path.glob("*.ndjson"), *path.glob("*.ndjson.gz")})
    mapped = [f for f in every if f.name.startswith(MAPPED_PREFIXES)]
    return mapped, [f for f in every if f not in mapped]


def _sql_list(values: object) -> str:
    items = sorted(str(v) for v in values)  # type: ignore[attr-defined]
    return "[" + ", ".join(lit(v) for v in items) + "]"


def _macros(con: duckdb.DuckDBPyConnection) -> None:
    """SQL macros for FHIR datatypes, each the counterpart of a reader in eligibility.io.fhir_values."""
    pos = [f"{s}|{c}" for (s, c), r in _ANSWER_CODES.items() if r == "positive"]
    neg = [f"{s}|{c}" for (s, c), r in _ANSWER_CODES.items() if r == "negative"]
    aliases = ", ".join(f"({lit(k)}, {lit(v)})" for k, v in SYSTEM_ALIASES.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE fhir_alias AS SELECT * FROM (VALUES {aliases}) v(uri, short)")
    macros = {
        # strip (any white space at both ends)
        "trim_ws(s)": r"regexp_replace(s, '^\s+|\s+$', '', 'g')",
        # _day: a full date (or dateTime) -> its calendar day; partial or unreadable -> NULL
        # (year 0000 is not a FHIR year: DuckDB would read it as 1 BC)
        "fday(s)": f"CASE WHEN regexp_full_match(s, {lit(_DATETIME_RE)}) AND length(s) >= 10 AND s[1:4] <> '0000' "
        "THEN TRY_CAST(s[1:10] AS DATE) END",
        "fpartial(s)": f"coalesce(regexp_full_match(s, {lit(_PARTIAL_RE)}), false)",
        "fbad(s)": "s IS NOT NULL AND NOT fpartial(s) AND fday(s) IS NULL",
        "fbad_date(s)": f"s IS NOT NULL AND NOT fpartial(s) AND (NOT regexp_full_match(s, {lit(_DATE_RE)}) "
        "OR fday(s) IS NULL)",
        # a CodeableConcept's codings (a JSON list; [] when absent)
        "codings(cc)": "coalesce(TRY_CAST(json_extract(cc, '$.coding') AS JSON[]), []::JSON[])",
        "jlist(x)": "coalesce(TRY_CAST(x AS JSON[]), []::JSON[])",
        # _status_code
        "statuscode(cc)": "CASE WHEN cc IS NULL THEN NULL ELSE coalesce("
        "list_filter(list_transform(codings(cc), lambda c: NULLIF(c->>'code', '')), lambda x: x IS NOT NULL)[1], "
        "CASE WHEN NULLIF(cc->>'text', '') IS NOT NULL THEN lower(trim_ws(cc->>'text')) END) END",
        # _concept_text
        "concepttext(cc)": "CASE WHEN cc IS NULL THEN NULL ELSE coalesce(NULLIF(cc->>'text', ''), "
        "list_filter(list_transform(codings(cc), lambda c: coalesce(NULLIF(c->>'display', ''), "
        "NULLIF(c->>'code', ''))), lambda x: x IS NOT NULL)[1]) END",
        # _quantity_unit and _age_unit
        "qunit(q)": "CASE WHEN NULLIF(q->>'code', '') IS NOT NULL AND ((q->>'system') IS NULL OR "
        "(q->>'system') = 'http://unitsofmeasure.org') THEN (q->>'code') "
        "WHEN NULLIF(q->>'unit', '') IS NOT NULL THEN (q->>'unit') ELSE NULLIF(q->>'code', '') END",
        "ageunit(q)": "coalesce(NULLIF(q->>'code', ''), NULLIF(q->>'unit', ''))",
        # _after: a day + a Duration / Age (calendar months and years; Python's round-half-even)
        "fafter(d, a, u)": "CASE WHEN d IS NULL OR a IS NULL OR NOT isfinite(a) OR a < 0 OR a > 1e6 THEN NULL "
        "WHEN trim_ws(coalesce(u, '')) IN ('a', 'year', 'years', 'yr') "
        "THEN CAST(d + to_months(CAST(round_even(a * 12, 0) AS INTEGER)) AS DATE) "
        "WHEN trim_ws(coalesce(u, '')) IN ('mo', 'month', 'months') "
        "THEN CAST(d + to_months(CAST(round_even(a, 0) AS INTEGER)) AS DATE) "
        "WHEN trim_ws(coalesce(u, '')) IN ('wk', 'week', 'weeks') THEN d + CAST(ceil(a * 7.0) AS INTEGER) "
        "WHEN trim_ws(coalesce(u, '')) IN ('d', 'day', 'days') THEN d + CAST(ceil(a) AS INTEGER) "
        f"WHEN trim_ws(coalesce(u, '')) = 'h' THEN d + CAST(ceil(a * {lit(repr(1 / 24))}::DOUBLE) AS INTEGER) "
        f"WHEN trim_ws(coalesce(u, '')) = 'min' THEN d + CAST(ceil(a * {lit(repr(1 / 1440))}::DOUBLE) AS INTEGER) "
        "END",
        # _normal_text / _text_result
        "normtext(t)": r"rtrim(trim_ws(regexp_replace(replace(lower(t), '_', ' '), '\s+', ' ', 'g')), '.')",
        "textresult(t)": f"CASE WHEN list_contains({_sql_list(_POSITIVE_TEXT)}, normtext(t)) THEN 'positive' "
        f"WHEN list_contains({_sql_list(_NEGATIVE_TEXT)}, normtext(t)) THEN 'negative' END",
        "answercode(c)": f"CASE WHEN list_contains({_sql_list(pos)}, "
        "coalesce(c->>'system', 'None') || '|' || coalesce(c->>'code', 'None')) THEN 'positive' "
        f"WHEN list_contains({_sql_list(neg)}, "
        "coalesce(c->>'system', 'None') || '|' || coalesce(c->>'code', 'None')) THEN 'negative' END",
        # "Patient/<id>" (also absolute or versioned) or "urn:uuid:<id>" -> the patient id
        "fpid(r)": "CASE WHEN r IS NULL THEN NULL WHEN starts_with(r, 'urn:uuid:') THEN NULLIF(r[10:], '') "
        "ELSE NULLIF(regexp_extract(r, '(?:^|/)Patient/([^/]+?)(?:/_history/[^/]+)?$', 1), '') END",
    }
    for head, body in macros.items():
        con.execute(f"CREATE OR REPLACE TEMP MACRO {head} AS {body}")


def load_fhir_bulk(directory: str | Path, con: duckdb.DuckDBPyConnection | None = None) -> Registry:
    """Stage a FHIR Bulk Data NDJSON folder into DuckDB as the registry tables (see the module docstring)."""
    path = Path(directory)
    if not path.is_dir():
        raise InputError("not a folder", str(path))
    if not is_fhir_bulk(path):
        raise InputError("no Patient*.ndjson in this folder", str(path))
    reg = Registry(con=con or connect(), source=str(path))
    c = reg.con
    _create_rejects(c)
    _macros(c)
    mapped, others = _files(path)
    reg.files = {f"ndjson:{f.name}": str(f) for f in mapped}
    _read_lines(reg, mapped)
    _resources(reg)
    for f in others:
        row = c.execute(f"SELECT count(line) FROM {_line_reader(f)} WHERE trim_ws(line) <> ''").fetchone()
        reg.notes.append(f"{f.name}: {int(row[0]) if row else 0} resources not read (resource type not mapped)")
    _patients(reg)
    _records(reg)
    _observations(reg)
    _conditions(reg)
    _medications(reg)
    _procedures(reg)
    for t in ("fhir_lines", "fhir_res", "fhir_rec", "fhir_dates", "fhir_code_maps"):
        c.execute(f"DROP TABLE IF EXISTS {t}")
    return reg


# ------------------------------------------------------------------------------------------------
# Lines -> resources
# ------------------------------------------------------------------------------------------------


def _line_reader(file: Path) -> str:
    """Every physical line of a file as one VARCHAR column ``line`` (blank lines as NULL), in order."""
    return (
        f"read_csv({lit(str(file))}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\x01', "
        f"quote = '', escape = '', auto_detect = false, strict_mode = false, new_line = '\\r\\n', "
        f"max_line_size = {_MAX_LINE}, buffer_size = {2 * _MAX_LINE})"
    )


def _read_lines(reg: Registry, files: list[Path]) -> None:
    """fhir_lines(fid, line, txt): every non-blank line, with its 1-based line number in its file."""
    con = reg.con
    con.execute("CREATE OR REPLACE TEMP TABLE fhir_files(fid INTEGER, name VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE fhir_lines(fid INTEGER, line BIGINT, txt VARCHAR)")
    for fid, file in enumerate(files):
        con.execute("INSERT INTO fhir_files VALUES (?, ?)", [fid, file.name])
        con.execute(f"CREATE OR REPLACE TEMP TABLE fhir_one AS SELECT line FROM {_line_reader(file)}")
        con.execute(
            f"INSERT INTO fhir_lines SELECT {fid}, rowid + 1, line FROM fhir_one "
            "WHERE line IS NOT NULL AND trim_ws(line) <> ''"
        )
    con.execute("DROP TABLE IF EXISTS fhir_one")


def _reject(
    con: duckdb.DuckDBPyConnection, source: str, where: str, reason: str, col: str, val: str, kept: bool
) -> None:
    """Insert rejects for the rows of ``source`` (which has fid, line) matching ``where``."""
    con.execute(
        f"""INSERT INTO rejects SELECT f.name, s.line, {lit(col) if col else "NULL"}, {val}, {lit(reason)}, {kept}
            FROM {source} s JOIN fhir_files f USING (fid) WHERE {where}"""
    )


def _resources(reg: Registry) -> None:
    """fhir_res(fid, line, rtype, j): parsed lines; bad ones reported; unmapped types counted."""
    con = reg.con
    _reject(con, "fhir_lines", "NOT json_valid(s.txt)", "invalid JSON (line left out)", "", "left(s.txt, 200)", False)
    _reject(
        con,
        "fhir_lines",
        "json_valid(s.txt) AND json_type(s.txt) <> 'OBJECT'",
        "not a JSON object (line left out)",
        "",
        "left(s.txt, 200)",
        False,
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE fhir_res AS
           SELECT fid, line, CAST(txt AS JSON) ->> 'resourceType' AS rtype, CAST(txt AS JSON) AS j
           FROM fhir_lines WHERE json_valid(txt) AND json_type(txt) = 'OBJECT'"""
    )
    con.execute("DROP TABLE fhir_lines")
    _reject(
        con,
        "fhir_res",
        "s.rtype IS NULL OR s.rtype = ''",
        "no resourceType (line left out)",
        "resourceType",
        "NULL",
        False,
    )
    mapped = ", ".join(lit(t) for t in (*_RECORD_TYPES, "Patient", "Medication"))
    rows = con.execute(
        f"SELECT rtype, count(*) FROM fhir_res WHERE rtype <> '' AND rtype NOT IN ({mapped}) "
        "GROUP BY rtype ORDER BY rtype"
    ).fetchall()
    if rows:
        counts = ", ".join(f"{t} {int(n)}" for t, n in rows)
        reg.notes.append(f"FHIR: resources not used for screening were skipped: {counts}")


def _date_check(reg: Registry, source: str, fields: dict[str, str], date_only: bool = False) -> None:
    """Report unreadable dates (kept as unknown) and count partial ones, for SQL expressions over ``s``."""
    con = reg.con
    bad = "fbad_date" if date_only else "fbad"
    for label, expr in fields.items():
        _reject(
            con,
            source,
            f"{bad}({expr})",
            "not a FHIR date (kept as unknown)",
            label,
            f"left({expr}, 200)",
            True,
        )
        row = con.execute(f"SELECT count(*) FROM {source} s WHERE fpartial({expr})").fetchone()
        if row and row[0]:
            reg.notes.append(f"FHIR: {int(row[0])} x {label} is not a full date (read as unknown)")


def _patients(reg: Registry) -> None:
    con = reg.con
    con.execute(
        """CREATE OR REPLACE TEMP TABLE fhir_pat AS
           SELECT fid, line, NULLIF(j ->> 'id', '') AS pid, (j ->> 'birthDate') AS birth, (j ->> 'gender') AS gender,
                  (j ->> 'deceasedDateTime') AS death
           FROM fhir_res WHERE rtype = 'Patient'"""
    )
    _date_check(reg, "fhir_pat", {"birthDate": "s.birth"}, date_only=True)
    _date_check(reg, "fhir_pat", {"deceasedDateTime": "s.death"})
    _reject(
        con,
        "fhir_pat",
        "s.gender IS NOT NULL AND s.gender NOT IN ('male', 'female', 'other', 'unknown')",
        "not one of male, female, other, unknown (kept as unknown)",
        "gender",
        "s.gender",
        True,
    )
    _reject(con, "fhir_pat", "s.pid IS NULL", "Patient without id (line left out)", "id", "NULL", False)
    _reject(
        con,
        "fhir_pat",
        "s.pid IS NOT NULL AND (s.fid, s.line) NOT IN (SELECT (fid, line) FROM fhir_pat WHERE pid IS NOT NULL "
        "QUALIFY row_number() OVER (PARTITION BY pid ORDER BY fid, line) = 1)",
        "duplicate Patient id (line left out; the first one is used)",
        "id",
        "s.pid",
        False,
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE clean_patients AS
            SELECT row_number() OVER (ORDER BY fid, line) - 1 AS rid, pid AS patient_id,
                   CASE WHEN regexp_full_match(birth, {lit(_DATE_RE)}) THEN fday(birth) END AS birth_date,
                   CASE WHEN gender IN ('male', 'female', 'other', 'unknown') THEN gender END AS sex
            FROM fhir_pat WHERE pid IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY pid ORDER BY fid, line) = 1"""
    )
    # A death date, as the Bundle reader's Patient.death_date: never eligible from that day (patients_sql).
    con.execute(
        """CREATE OR REPLACE TABLE deaths AS
           SELECT pid AS patient_id, fday(death) AS death_date FROM fhir_pat
           WHERE pid IS NOT NULL AND fday(death) IS NOT NULL
           QUALIFY row_number() OVER (PARTITION BY pid ORDER BY fid, line) = 1"""
    )
    reg.extras = reg.extras | {"deaths"}
    con.execute("DROP TABLE fhir_pat")
    _finish(con, "patients")


def _records(reg: Registry) -> None:
    """fhir_rec(k, fid, line, rtype, patient_id, birth, j): record resources with a known subject, not void."""
    con = reg.con
    types = ", ".join(lit(t) for t in _RECORD_TYPES)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE fhir_subj AS
            SELECT fid, line, rtype, j,
                   CASE WHEN rtype = 'AllergyIntolerance' THEN (j -> 'patient' ->> 'reference')
                        ELSE (j -> 'subject' ->> 'reference') END AS ref
            FROM fhir_res WHERE rtype IN ({types})"""
    )
    con.execute("ALTER TABLE fhir_subj ADD COLUMN pid VARCHAR")
    con.execute("UPDATE fhir_subj SET pid = fpid(ref)")
    _reject(con, "fhir_subj", "s.ref IS NULL", "missing subject reference (line left out)", "subject", "NULL", False)
    _reject(
        con,
        "fhir_subj",
        "s.ref IS NOT NULL AND (s.pid IS NULL OR s.pid NOT IN (SELECT patient_id FROM patients))",
        "subject is not a patient of the Patient files (line left out)",
        "subject",
        "s.ref",
        False,
    )
    void = " OR ".join(
        f"(s.rtype = {lit(t)} AND (s.j ->> 'status') IN ({', '.join(lit(x) for x in sorted(v))}))"
        for t, v in _VOID_STATUS.items()
    )
    for rtype, status, count in con.execute(
        f"SELECT rtype, (j ->> 'status'), count(*) FROM fhir_subj s WHERE {void} GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        reg.notes.append(f"FHIR: {int(count)} x {rtype} with status '{status}' ignored")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE fhir_rec AS
            SELECT row_number() OVER (ORDER BY s.fid, s.line) AS k, s.fid, s.line, s.rtype, s.pid AS patient_id,
                   p.birth_date AS birth, s.j
            FROM fhir_subj s JOIN patients p ON p.patient_id = s.pid
            WHERE NOT coalesce({void}, false)"""
    )
    con.execute("DROP TABLE fhir_subj")


def _choose_codes(reg: Registry, table: str, rtype: str) -> None:
    """Add (system, code, text) to ``table`` (with a unique ``k`` and a CodeableConcept ``cc``): _Mapper.coded.

    Of the codings with a code, the first one ranked by (the vocabulary maps it to a concept, its system is
    known, the resource type's preferred systems) is kept; a known system is stored by its short name.
    """
    con = reg.con
    preferred = _PREFERRED_SYSTEMS.get(rtype, ())
    pref = " ".join(f"WHEN {lit(s)} THEN {i}" for i, s in enumerate(preferred))
    pref_sql = f"CASE c.norm {pref} ELSE {len(preferred)} END" if preferred else "0"
    known = ", ".join(lit(s) for s in sorted(KNOWN_SYSTEMS))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE fhir_codings AS
            WITH u AS (
                SELECT k, unnest(codings(cc)) AS c, unnest(range(1, len(codings(cc)) + 1)) AS i
                FROM {table} WHERE cc IS NOT NULL)
            SELECT u.k, u.i, (u.c ->> 'system') AS raw_system, (u.c ->> 'code') AS code,
                   coalesce(a.short, lower(trim_ws(u.c ->> 'system'))) AS norm
            FROM u LEFT JOIN fhir_alias a ON a.uri = trim_ws(u.c ->> 'system')
            WHERE NULLIF(u.c ->> 'code', '') IS NOT NULL"""
    )
    vocab = default_vocabulary()
    con.execute("CREATE TEMP TABLE IF NOT EXISTS fhir_code_maps(norm VARCHAR, code VARCHAR, maps BOOLEAN)")
    pairs = con.execute(
        f"""SELECT DISTINCT c.norm, c.code FROM fhir_codings c WHERE c.norm IN ({known})
            AND NOT EXISTS (SELECT 1 FROM fhir_code_maps m WHERE m.norm = c.norm AND m.code = c.code)"""
    ).fetchall()
    if pairs:
        rows = [(s, code, bool(vocab.concepts_for_code(s, code))) for s, code in pairs]
        con.executemany("INSERT INTO fhir_code_maps VALUES (?, ?, ?)", rows)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE fhir_chosen AS
            SELECT c.k, CASE WHEN c.norm IN ({known}) THEN c.norm ELSE c.raw_system END AS system, c.code
            FROM fhir_codings c LEFT JOIN fhir_code_maps m ON m.norm = c.norm AND m.code = c.code
            QUALIFY row_number() OVER (PARTITION BY c.k ORDER BY
                CASE WHEN coalesce(m.maps, false) THEN 0 ELSE 1 END,
                CASE WHEN c.norm IN ({known}) THEN 0 ELSE 1 END, {pref_sql}, c.i) = 1"""
    )
    con.execute(f"ALTER TABLE {table} ADD COLUMN system VARCHAR")
    con.execute(f"ALTER TABLE {table} ADD COLUMN code VARCHAR")
    con.execute(f"ALTER TABLE {table} ADD COLUMN text VARCHAR")
    con.execute(f"""UPDATE {table} t SET system = h.system, code = h.code FROM fhir_chosen h WHERE h.k = t.k""")
    con.execute(
        f"""UPDATE {table} SET text = coalesce(NULLIF(cc ->> 'text', ''),
                list_filter(list_transform(codings(cc), lambda c: NULLIF(c ->> 'display', '')),
                            lambda x: x IS NOT NULL)[1])
            WHERE cc IS NOT NULL"""
    )
    con.execute("DROP TABLE fhir_codings")
    con.execute("DROP TABLE fhir_chosen")


def _nameless(reg: Registry, table: str, what: str) -> None:
    """Report and drop records with neither a code nor a text (the Bundle path skips them with a note)."""
    _reject(
        reg.con,
        table,
        "s.code IS NULL AND s.text IS NULL",
        f"{what} without a code or text: it names nothing (left out)",
        "code",
        "NULL",
        False,
    )
    reg.con.execute(f"DELETE FROM {table} WHERE code IS NULL AND text IS NULL")


def _stage(reg: Registry, table: str, select: str) -> None:
    """clean_<table> from a SELECT giving every staged column (ordered by ``ord``) -> the staged table."""
    cols = ", ".join(c.target for c in SCHEMA[table])
    reg.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE clean_{table} AS
            SELECT row_number() OVER (ORDER BY ord) - 1 AS rid, {cols} FROM ({select})"""
    )
    _finish(reg.con, table)


def _when(j: str, field: str) -> str:
    """_Mapper.when: ``field[x]`` (dateTime, Period, Age; Range and String give no day) as a day."""
    p = f"({j} -> '{field}Period')"
    age = f"({j} -> '{field}Age')"
    return f"""(CASE WHEN ({j} -> '{field}DateTime') IS NOT NULL THEN fday({j} ->> '{field}DateTime')
        WHEN {p} IS NOT NULL THEN CASE WHEN ({p} -> 'start') IS NOT NULL THEN fday({p} ->> 'start')
                                       ELSE fday({p} ->> 'end') END
        WHEN {age} IS NOT NULL THEN fafter(birth, TRY_CAST({age} ->> 'value' AS DOUBLE), ageunit({age})) END)"""


def _when_dates(field: str) -> dict[str, str]:
    return {
        f"{field}DateTime": f"(s.j ->> '{field}DateTime')",
        f"{field}Period.start": f"(s.j -> '{field}Period' ->> 'start')",
        f"{field}Period.end": f"(s.j -> '{field}Period' ->> 'end')",
    }


# ------------------------------------------------------------------------------------------------
# Observations
# ------------------------------------------------------------------------------------------------


def _observations(reg: Registry) -> None:
    con = reg.con
    _date_check(
        reg,
        "(SELECT * FROM fhir_rec WHERE rtype = 'Observation')",
        {
            "effectiveDateTime": "(s.j ->> 'effectiveDateTime')",
            "effectivePeriod.start": "(s.j -> 'effectivePeriod' ->> 'start')",
            "effectivePeriod.end": "(s.j -> 'effectivePeriod' ->> 'end')",
            "effectiveInstant": "(s.j ->> 'effectiveInstant')",
        },
    )
    has_value = " OR ".join(
        f"(j -> 'value{kind}') IS NOT NULL"
        for kind in ("Quantity", "CodeableConcept", "String", "Boolean", "Integer", "Range", "Ratio")
    )
    # One element per record: the observation itself (idx -1) unless it only groups components, then each
    # component (which shares the observation's date).
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE fhir_obs AS
            WITH o AS (
                SELECT k, fid, line, patient_id, j, jlist(j -> 'component') AS comps,
                       CASE WHEN (j -> 'effectiveDateTime') IS NOT NULL THEN fday(j ->> 'effectiveDateTime')
                            WHEN (j -> 'effectivePeriod') IS NOT NULL
                                THEN coalesce(fday(j -> 'effectivePeriod' ->> 'start'),
                                              fday(j -> 'effectivePeriod' ->> 'end'))
                            WHEN (j -> 'effectiveInstant') IS NOT NULL THEN fday(j ->> 'effectiveInstant') END
                           AS effective
                FROM fhir_rec WHERE rtype = 'Observation'),
            e AS (
                SELECT k, fid, line, patient_id, effective, j AS el, -1 AS idx FROM o
                WHERE ({has_value}) OR len(comps) = 0
                UNION ALL
                SELECT k, fid, line, patient_id, effective, unnest(comps) AS el,
                       unnest(range(len(comps))) AS idx FROM o WHERE len(comps) > 0)
            SELECT row_number() OVER (ORDER BY k, idx) AS ord, * EXCLUDE (k), (el -> 'code') AS cc FROM e"""
    )
    con.execute("ALTER TABLE fhir_obs RENAME COLUMN ord TO k")
    _choose_codes(reg, "fhir_obs", "Observation")
    _nameless(reg, "fhir_obs", "Observation")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE fhir_obs2 AS
           WITH v AS (
             SELECT *, (el -> 'valueQuantity') AS vq, (el -> 'valueCodeableConcept') AS vcc,
                    (el ->> 'valueString') AS vstr, json_extract(el, '$.interpretation[0]') AS interp_cc
             FROM fhir_obs),
           w AS (
             SELECT *,
               CASE WHEN vq IS NOT NULL THEN
                      CASE WHEN NULLIF(vq ->> 'comparator', '') IS NULL
                           AND isfinite(TRY_CAST(vq ->> 'value' AS DOUBLE)) AND TRY_CAST(vq ->> 'value' AS DOUBLE) >= 0
                           THEN TRY_CAST(vq ->> 'value' AS DOUBLE) END
                    WHEN (el -> 'valueInteger') IS NOT NULL AND TRY_CAST(el ->> 'valueInteger' AS DOUBLE) >= 0
                      THEN TRY_CAST(el ->> 'valueInteger' AS DOUBLE) END AS value,
               CASE WHEN vq IS NOT NULL AND NULLIF(vq ->> 'comparator', '') IS NULL THEN qunit(vq) END AS unit,
               CASE WHEN vq IS NULL AND (el -> 'valueInteger') IS NULL AND (vcc IS NOT NULL OR vstr IS NOT NULL) THEN
                 list_distinct(list_filter(
                   list_concat(
                     list_transform(codings(vcc), lambda c: answercode(c)),
                     CASE WHEN vcc IS NOT NULL AND len(list_filter(list_transform(codings(vcc),
                               lambda c: answercode(c)), lambda x: x IS NOT NULL)) = 0
                          THEN list_transform(list_prepend(vcc ->> 'text',
                                   list_transform(codings(vcc), lambda c: (c ->> 'display'))),
                                   lambda t: CASE WHEN NULLIF(t, '') IS NOT NULL THEN textresult(t) END)
                          ELSE []::VARCHAR[] END,
                     [CASE WHEN vstr IS NOT NULL THEN textresult(vstr) END]),
                   lambda x: x IS NOT NULL)) END AS results,
               concepttext(interp_cc) AS interp
             FROM v),
           r AS (
             SELECT *, list_filter(jlist(el -> 'referenceRange'),
                 lambda x: ((x -> 'low') IS NOT NULL OR (x -> 'high') IS NOT NULL)
                       AND ((x -> 'type') IS NULL OR coalesce(statuscode(x -> 'type') = 'normal', false))) AS ranges
             FROM w)
           SELECT * EXCLUDE (ranges, results),
                  CASE WHEN len(results) = 1 THEN results[1] END AS result,
                  CASE WHEN value IS NOT NULL AND len(ranges) > 0 THEN coalesce(
                      list_filter(ranges, lambda x: ((x -> 'appliesTo') IS NULL
                                                     OR json_array_length(x -> 'appliesTo') = 0)
                                                   AND (x -> 'age') IS NULL)[1], ranges[1]) END AS rng
           FROM r"""
    )
    con.execute("DROP TABLE fhir_obs")
    for field, given in (
        ("valueQuantity.value", "s.vq IS NOT NULL AND NULLIF(s.vq ->> 'comparator', '') IS NULL AND (s.vq -> 'value')"),
        ("valueInteger", "s.vq IS NULL AND (s.el -> 'valueInteger')"),
    ):
        raw = f"(s.el -> '{field.split('.')[0]}')" + (" -> 'value'" if "." in field else "")
        _reject(con, "fhir_obs2", f"{given} IS NOT NULL AND s.value IS NULL",
                f"{MEASURE_REASON} (kept as unknown)", field, f"left(CAST({raw} AS VARCHAR), 200)", True)  # fmt: skip
    con.execute(
        """CREATE OR REPLACE TEMP TABLE fhir_obs3 AS
           SELECT *, TRY_CAST(rng -> 'low' ->> 'value' AS DOUBLE) AS low_v, qunit(rng -> 'low') AS low_u,
                  TRY_CAST(rng -> 'high' ->> 'value' AS DOUBLE) AS high_v, qunit(rng -> 'high') AS high_u
           FROM fhir_obs2"""
    )
    con.execute("DROP TABLE fhir_obs2")
    pairs = con.execute(
        """SELECT DISTINCT low_u, unit FROM fhir_obs3 WHERE low_v IS NOT NULL AND low_u IS NOT NULL AND unit IS NOT NULL
           UNION SELECT DISTINCT high_u, unit FROM fhir_obs3
           WHERE high_v IS NOT NULL AND high_u IS NOT NULL AND unit IS NOT NULL"""
    ).fetchall()
    con.execute("CREATE OR REPLACE TEMP TABLE fhir_factor(ru VARCHAR, vu VARCHAR, factor DOUBLE)")
    if pairs:
        rows = [(ru, vu, _Mapper.range_factor(ru, vu)) for ru, vu in pairs]
        con.executemany("INSERT INTO fhir_factor VALUES (?, ?, ?)", rows)

    def factor(u: str) -> str:
        return (
            f"(CASE WHEN {u} IS NULL AND o.unit IS NULL THEN 1.0::DOUBLE WHEN {u} IS NULL OR o.unit IS NULL THEN NULL "
            f"ELSE (SELECT f.factor FROM fhir_factor f WHERE f.ru = {u} AND f.vu = o.unit) END)"
        )

    low, high = factor("o.low_u"), factor("o.high_u")
    bad = f"((o.low_v IS NOT NULL AND {low} IS NULL) OR (o.high_v IS NOT NULL AND {high} IS NULL))"
    # (unit factors are positive, so the raw bounds decide patient.untrusted_range)
    untrusted = f"coalesce({UNTRUSTED_RANGE.replace('ref_low', 's.low_v').replace('ref_high', 's.high_v')}, false)"
    shown = "coalesce(CAST(s.low_v AS VARCHAR), '') || '..' || coalesce(CAST(s.high_v AS VARCHAR), '')"
    _reject(con, "fhir_obs3", f"s.value IS NOT NULL AND {untrusted}", BAD_RANGE, "referenceRange", shown, True)
    bad = f"({bad} OR {untrusted.replace('s.', 'o.')})"
    _stage(
        reg,
        "observations",
        f"""SELECT o.k AS ord, o.patient_id, o.system, o.code, NULL::VARCHAR AS concept,
                   CASE WHEN o.interp IS NOT NULL
                        THEN coalesce(o.text, coalesce(o.system, 'None') || ' ' || o.code) || ' (interpretation: '
                             || o.interp || ')'
                        ELSE o.text END AS text,
                   o.value, o.unit, o.result, o.effective,
                   CASE WHEN NOT {bad} THEN o.low_v * {factor("o.low_u")} END AS ref_low,
                   CASE WHEN NOT {bad} THEN o.high_v * {factor("o.high_u")} END AS ref_high
            FROM fhir_obs3 o""",
    )
    con.execute("DROP TABLE fhir_obs3")
    con.execute("DROP TABLE fhir_factor")


# ------------------------------------------------------------------------------------------------
# Conditions (and allergies, mirrored as conditions with concept 'allergy')
# ------------------------------------------------------------------------------------------------


def _conditions(reg: Registry) -> None:
    con = reg.con
    for rtype in ("Condition", "AllergyIntolerance"):
        rows = con.execute(
            f"""SELECT statuscode(j -> 'verificationStatus') AS v, count(*) FROM fhir_rec
                WHERE rtype = {lit(rtype)}
                AND statuscode(j -> 'verificationStatus') IN ('refuted', 'entered-in-error')
                GROUP BY ALL ORDER BY ALL"""
        ).fetchall()
        for v, n in rows:
            reg.notes.append(f"FHIR: {int(n)} x {rtype} with verificationStatus '{v}' ignored")
    src = "(SELECT * FROM fhir_rec WHERE rtype IN ('Condition', 'AllergyIntolerance'))"
    _date_check(reg, src, {**_when_dates("onset"), **_when_dates("abatement")})
    con.execute(
        """CREATE OR REPLACE TEMP TABLE fhir_cond AS
           SELECT k, fid, line, patient_id, rtype, birth, j, (j -> 'code') AS cc FROM fhir_rec
           WHERE rtype IN ('Condition', 'AllergyIntolerance')
             AND coalesce(statuscode(j -> 'verificationStatus') NOT IN ('refuted', 'entered-in-error'), true)"""
    )
    _choose_codes(reg, "fhir_cond", "Condition")
    # Allergies prefer other systems: re-choose their codes.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE fhir_allergy AS SELECT k, fid, line, patient_id, birth, j, cc FROM fhir_cond "
        "WHERE rtype = 'AllergyIntolerance'"
    )
    _choose_codes(reg, "fhir_allergy", "AllergyIntolerance")
    con.execute(
        "UPDATE fhir_cond c SET system = a.system, code = a.code, text = a.text FROM fhir_allergy a WHERE a.k = c.k"
    )
    con.execute("DROP TABLE fhir_allergy")
    _nameless(reg, "fhir_cond", "Condition or AllergyIntolerance")
    statuses = ", ".join(lit(s) for s in sorted(_CONDITION_STATUSES))
    allergy_statuses = ", ".join(lit(s) for s in sorted(_ALLERGY_STATUSES))
    abated_other = " OR ".join(
        f"(j -> 'abatement{k}') IS NOT NULL" for k in ("DateTime", "Age", "Period", "Range", "String")
    )
    # an abatement given but unreadable (not partial): ended on an unknown day, or a wrong value -- unknown
    unreadable_end = " OR ".join(f"fbad({e.replace('s.j', 'j')})" for e in _when_dates("abatement").values())
    _stage(
        reg,
        "conditions",
        f"""WITH c AS (
                SELECT *, {_when("j", "onset")} AS onset,
                       CASE WHEN rtype = 'Condition' THEN {_when("j", "abatement")} END AS abatement,
                       statuscode(j -> 'clinicalStatus') AS clinical
                FROM fhir_cond)
            SELECT k AS ord, patient_id, system, code,
                   CASE WHEN rtype = 'AllergyIntolerance' THEN {_allergy_concept_sql("j")} END AS concept,
                   CASE WHEN rtype = 'Condition' THEN text
                        WHEN text IS NOT NULL THEN 'allergy: ' || text ELSE 'allergy' END AS text,
                   onset, abatement,
                   CASE WHEN rtype = 'AllergyIntolerance'
                            THEN CASE WHEN clinical IN ({allergy_statuses}) THEN clinical
                                      WHEN clinical IS NULL THEN 'active' ELSE 'unknown' END
                        WHEN clinical IN ({statuses}) THEN clinical
                        WHEN {unreadable_end} THEN 'unknown'
                        WHEN abatement IS NOT NULL OR {abated_other} THEN 'resolved'
                        WHEN clinical IS NOT NULL THEN 'unknown'
                        ELSE 'active' END AS status
            FROM c""",
    )
    con.execute("DROP TABLE fhir_cond")


def _allergy_concept_sql(j: str) -> str:
    """``fhir_values.allergy_concept`` as SQL: the mirror concept from the resource's category and type.

    The distinct non-null category codes must be exactly one, from the FHIR R4 list, as in Python; a
    category that is not a list of strings (bad JSON shape) is unclassified there too, as the Python read
    refuses such a resource.
    """
    listed = f"TRY_CAST(json_extract_string({j}, '$.category[*]') AS VARCHAR[])"
    cats = f"list_distinct(list_filter({listed}, lambda x: x IS NOT NULL))"
    kind = f"json_extract_string({j}, '$.type')"
    branches = " ".join(
        f"WHEN {lit(cat)} THEN CASE WHEN {kind} = 'allergy' THEN {lit(yes)} ELSE {lit(other)} END"
        for cat, (yes, other) in sorted(ALLERGY_CATEGORY_CONCEPTS.items())
    )
    unclassified = lit(ALLERGY_UNCLASSIFIED)
    non_food = f"coalesce(regexp_matches(lower(text), {lit(non_food_allergen_pattern())}), false)"
    return (
        f"CASE WHEN coalesce(len({cats}), 0) <> 1 THEN {unclassified} "
        f"WHEN {cats}[1] = 'food' AND {non_food} THEN {unclassified} "
        f"ELSE CASE {cats}[1] {branches} ELSE {unclassified} END END"
    )


# ------------------------------------------------------------------------------------------------
# Medications
# ------------------------------------------------------------------------------------------------


def _medications(reg: Registry) -> None:
    con = reg.con
    src = f"(SELECT * FROM fhir_rec WHERE rtype IN ({', '.join(lit(t) for t in _ONGOING_STATUS)}))"
    _date_check(
        reg,
        src,
        {
            "authoredOn": "(s.j ->> 'authoredOn')",
            "dateAsserted": "(s.j ->> 'dateAsserted')",
            "effectiveDateTime": "(s.j ->> 'effectiveDateTime')",
            "effectivePeriod.start": "(s.j -> 'effectivePeriod' ->> 'start')",
            "effectivePeriod.end": "(s.j -> 'effectivePeriod' ->> 'end')",
        },
    )
    # Referenced Medications: by "Medication/<id>" (and "urn:uuid:<id>", the Bundle's fullUrl form).
    con.execute(
        """CREATE OR REPLACE TEMP TABLE fhir_medref AS
           SELECT key, j FROM (
               SELECT 'Medication/' || (j ->> 'id') AS key, j, fid, line FROM fhir_res
               WHERE rtype = 'Medication' AND NULLIF(j ->> 'id', '') IS NOT NULL
               UNION ALL
               SELECT 'urn:uuid:' || (j ->> 'id'), j, fid, line FROM fhir_res
               WHERE rtype = 'Medication' AND NULLIF(j ->> 'id', '') IS NOT NULL)
           QUALIFY row_number() OVER (PARTITION BY key ORDER BY fid DESC, line DESC) = 1"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE fhir_med AS
            WITH m AS (
                SELECT k, fid, line, patient_id, rtype, birth, j, (j -> 'medicationCodeableConcept') AS mcc,
                       (j -> 'medicationReference' ->> 'reference') AS ref,
                       NULLIF(j -> 'medicationReference' ->> 'display', '') AS display
                FROM {src} s),
            t AS (
                SELECT m.*, CASE
                    WHEN mcc IS NOT NULL THEN NULL
                    WHEN starts_with(ref, '#') THEN list_filter(jlist(j -> 'contained'),
                        lambda c: (c ->> 'id') = ref[2:] AND (c ->> 'resourceType') = 'Medication')[1]
                    ELSE coalesce(
                        (SELECT r.j FROM fhir_medref r WHERE r.key = m.ref),
                        (SELECT r.j FROM fhir_medref r WHERE contains(m.ref, 'Medication/')
                            AND r.key = 'Medication/' || regexp_extract(m.ref, '.*Medication/(.*)$', 1)))
                    END AS target
                FROM m)
            SELECT *, CASE WHEN mcc IS NOT NULL THEN mcc WHEN target IS NOT NULL THEN (target -> 'code') END AS cc
            FROM t"""
    )
    _choose_codes(reg, "fhir_med", "Medication")
    con.execute("UPDATE fhir_med SET text = display WHERE mcc IS NULL AND target IS NULL")
    row = con.execute("SELECT count(*) FROM fhir_med WHERE mcc IS NULL AND target IS NULL").fetchone()
    if row and row[0]:
        reg.notes.append(f"FHIR: {int(row[0])} x medication reference not found in the export")
    _nameless(reg, "fhir_med", "medication resource")
    # _Mapper.exposure, step by step.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE fhir_exp AS
           SELECT k, fid, line, rtype, j, (j ->> 'status') AS status,
                  coalesce(fday(j ->> 'authoredOn'), fday(j ->> 'dateAsserted')) AS authored,
                  CASE WHEN rtype IN ('MedicationStatement', 'MedicationAdministration') THEN
                      CASE WHEN (j -> 'effectiveDateTime') IS NOT NULL THEN fday(j ->> 'effectiveDateTime')
                           WHEN (j -> 'effectivePeriod') IS NOT NULL THEN fday(j -> 'effectivePeriod' ->> 'start') END
                  END AS start0,
                  CASE WHEN rtype IN ('MedicationStatement', 'MedicationAdministration') THEN
                      CASE WHEN (j -> 'effectiveDateTime') IS NOT NULL THEN
                               CASE WHEN rtype = 'MedicationAdministration' OR coalesce(j ->> 'status', '') <> 'active'
                                    THEN fday(j ->> 'effectiveDateTime') END
                           WHEN (j -> 'effectivePeriod') IS NOT NULL THEN
                               CASE WHEN fday(j -> 'effectivePeriod' ->> 'end') IS NOT NULL
                                    THEN fday(j -> 'effectivePeriod' ->> 'end')
                                    WHEN rtype = 'MedicationAdministration' AND (j ->> 'status') = 'completed'
                                    THEN fday(j -> 'effectivePeriod' ->> 'start') END
                      END
                  END AS end0
           FROM fhir_med"""
    )
    # end given <=> end0 is not NULL (every branch above sets end_given = end is not None).
    con.execute(
        """CREATE OR REPLACE TEMP TABLE fhir_dose AS
           WITH d AS (
               SELECT e.k, coalesce(e.start0, e.authored) AS base,
                      unnest(CASE WHEN e.rtype = 'MedicationRequest' THEN jlist(e.j -> 'dosageInstruction')
                                  WHEN e.rtype = 'MedicationStatement' THEN jlist(e.j -> 'dosage')
                                  ELSE []::JSON[] END) AS dose
               FROM fhir_exp e),
           b AS (
               SELECT k, base, (dose -> 'timing' -> 'repeat' -> 'boundsPeriod') AS bp,
                      (dose -> 'timing' -> 'repeat' -> 'boundsDuration') AS bd
               FROM d WHERE (dose -> 'timing' -> 'repeat') IS NOT NULL)
           SELECT k,
                  min(CASE WHEN bp IS NOT NULL THEN fday(bp ->> 'start') END) AS b_start,
                  count(*) AS n_ends,
                  count(*) FILTER (WHERE e IS NULL) AS n_open,
                  max(e) AS b_end
           FROM (SELECT k, bp, CASE WHEN bp IS NOT NULL THEN fday(bp ->> 'end') ELSE
                     CASE WHEN fafter(base, TRY_CAST(bd ->> 'value' AS DOUBLE), ageunit(bd)) IS NOT NULL
                          THEN greatest(base, fafter(base, TRY_CAST(bd ->> 'value' AS DOUBLE), ageunit(bd)) - 1) END
                     END AS e
                 FROM b WHERE bp IS NOT NULL OR bd IS NOT NULL)
           GROUP BY k"""
    )
    _date_check(
        reg,
        "(SELECT e.fid, e.line, unnest(jlist(coalesce(e.j -> 'dosageInstruction', (e.j -> 'dosage')))) AS d "
        "FROM fhir_exp e)",
        {
            "boundsPeriod.start": "(s.d -> 'timing' -> 'repeat' -> 'boundsPeriod' ->> 'start')",
            "boundsPeriod.end": "(s.d -> 'timing' -> 'repeat' -> 'boundsPeriod' ->> 'end')",
        },
    )
    ongoing = " OR ".join(f"(x.rtype = {lit(t)} AND x.status = {lit(s)})" for t, s in _ONGOING_STATUS.items())
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE fhir_exp2 AS
            WITH a AS (
                SELECT e.k, e.rtype, e.status,
                       coalesce(d.n_ends, 0) > 0 AND coalesce(d.n_open, 0) = 0 AS b_given,
                       d.b_start, d.b_end, e.start0, e.end0, e.authored
                FROM fhir_exp e LEFT JOIN fhir_dose d USING (k)),
            b AS (
                SELECT k, rtype, status,
                       CASE WHEN b_start IS NOT NULL OR b_given THEN coalesce(b_start, start0, authored)
                            ELSE start0 END AS s1,
                       CASE WHEN b_start IS NOT NULL OR b_given THEN (CASE WHEN b_given THEN b_end END)
                            ELSE end0 END AS e1,
                       CASE WHEN b_start IS NOT NULL OR b_given THEN b_given ELSE end0 IS NOT NULL END AS g1,
                       authored
                FROM a),
            x AS (
                SELECT k, rtype, status, g1,
                       CASE WHEN s1 IS NULL AND rtype = 'MedicationRequest' THEN authored ELSE s1 END AS s2, e1
                FROM b)
            SELECT k, rtype, status,
                   CASE WHEN g1 OR s2 IS NULL OR {ongoing} THEN s2 END AS start_date,
                   CASE WHEN g1 OR s2 IS NULL THEN e1 END AS end_date,
                   NOT (g1 OR s2 IS NULL OR {ongoing}) AS unknown_exposure
            FROM x"""
    )
    for rtype, status, n in con.execute(
        "SELECT rtype, status, count(*) FROM fhir_exp2 WHERE unknown_exposure GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        reg.notes.append(
            f"FHIR: {int(n)} x {rtype} {status} without an end date: exposure dates unknown (not used as exposure)"
        )
    # io/fhir._route_texts and fhir_values.locally_given: every stated route local -> LOCAL_ROUTE
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE fhir_local AS
            WITH d AS (
                SELECT k, unnest(CASE WHEN rtype = 'MedicationRequest' THEN jlist(j -> 'dosageInstruction')
                                      WHEN rtype = 'MedicationStatement' THEN jlist(j -> 'dosage')
                                      WHEN (j -> 'dosage') IS NOT NULL THEN [j -> 'dosage']
                                      ELSE []::JSON[] END) AS dose
                FROM fhir_med),
            r AS (
                SELECT k, array_to_string(list_filter(
                           [dose -> 'route' ->> 'text']
                           || list_transform(jlist(dose -> 'route' -> 'coding'), lambda c: c ->> 'display'),
                           lambda w: w IS NOT NULL AND w <> ''), ' ') AS words
                FROM d WHERE (dose -> 'route') IS NOT NULL)
            SELECT k FROM r WHERE trim(words, ' \t\r\n') <> ''
            GROUP BY k HAVING bool_and(regexp_matches(lower(words), {lit(local_route_pattern())}))"""
    )
    _stage(
        reg,
        "medications",
        f"""SELECT m.k AS ord, m.patient_id, m.system, m.code,
                  CASE WHEN m.k IN (SELECT k FROM fhir_local) THEN {lit(LOCAL_ROUTE)} END::VARCHAR AS concept,
                  m.text, x.start_date, x.end_date
           FROM fhir_med m JOIN fhir_exp2 x USING (k)""",
    )
    con.execute("DROP TABLE fhir_local")
    for t in ("fhir_med", "fhir_exp", "fhir_exp2", "fhir_dose", "fhir_medref"):
        con.execute(f"DROP TABLE {t}")


# ------------------------------------------------------------------------------------------------
# Procedures
# ------------------------------------------------------------------------------------------------


def _procedures(reg: Registry) -> None:
    con = reg.con
    src = "(SELECT * FROM fhir_rec WHERE rtype = 'Procedure')"
    _date_check(reg, src, _when_dates("performed"))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE fhir_proc AS SELECT k, fid, line, patient_id, birth, j, (j -> 'code') AS cc "
        "FROM fhir_rec WHERE rtype = 'Procedure'"
    )
    _choose_codes(reg, "fhir_proc", "Procedure")
    _nameless(reg, "fhir_proc", "Procedure")
    _stage(
        reg,
        "procedures",
        f"""SELECT k AS ord, patient_id, system, code, NULL::VARCHAR AS concept, text,
                   {_when("j", "performed")} AS performed
            FROM fhir_proc""",
    )
    con.execute("DROP TABLE fhir_proc")
