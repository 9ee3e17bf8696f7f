"""Long-format registries (Parquet or CSV tables in a folder) loaded straight into DuckDB.

Why DuckDB and not Python objects: a registry of a million patients has tens of millions of rows;
reading them row by row into pydantic models takes longer than screening them in SQL. Every file is
read with all columns as text and then converted with ``TRY_CAST``; a value that does not convert is
*reported* (file, line, column, value, reason) and becomes NULL, which the compiled rules treat as
unknown -- so a bad row can make a result unknown but never silently decide it, and never aborts
the run. Rows that cannot belong to anyone (no ``patient_id``, or a ``patient_id`` missing from the
patients table) or that name nothing (no code, concept or text) are reported and left out.

Staged tables (what :mod:`.compile` reads; ``rn`` is the row's position in its file, ``rkey`` the
id of its distinct (system, code, concept, text) descriptor in ``keys_<table>``)::

    patients(patient_id, birth_date DATE, sex)
    observations(patient_id, rn, rkey, value DOUBLE, unit, result, effective DATE, ref_low, ref_high)
    conditions(patient_id, rn, rkey, onset DATE, abatement DATE, status)
    medications(patient_id, rn, rkey, start_date DATE, end_date DATE)
    procedures(patient_id, rn, rkey, performed DATE)

They live in a temporary database file (see :func:`connect`: compressed, bounded by ``memory_limit``).
A Parquet file is scanned once (columns already DATE/DOUBLE/integer are not sent through text); another
loader registers a table by creating ``clean_<table>(rid, <SCHEMA targets>)`` and calling ``_finish``.
"""

from __future__ import annotations

from .load import DEFAULT_MEMORY_LIMIT, RegistryFormat, connect, load_registry, readable_in_place, stage_file, view_file
from .model import Registry, Reject, as_of_ages, observation_units, raw_code_filter
from .rejects import MEASURE_REASON, UNKNOWN_CONCEPT, UNTRUSTED_RANGE, _create_rejects, _finish
from .schema import (
    OPTIONAL_COLUMNS,
    RECORD_TABLES,
    RESULTS,
    SCHEMA,
    SEXES,
    STATUSES,
    Column,
    ColumnKind,
    lit,
    staged_columns,
)
from .sources import MAX_CSV_LINE

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "MAX_CSV_LINE",
    "MEASURE_REASON",
    "OPTIONAL_COLUMNS",
    "RECORD_TABLES",
    "RESULTS",
    "SCHEMA",
    "SEXES",
    "STATUSES",
    "UNKNOWN_CONCEPT",
    "UNTRUSTED_RANGE",
    "Column",
    "ColumnKind",
    "Registry",
    "RegistryFormat",
    "Reject",
    "_create_rejects",
    "_finish",
    "as_of_ages",
    "connect",
    "lit",
    "load_registry",
    "observation_units",
    "raw_code_filter",
    "readable_in_place",
    "stage_file",
    "staged_columns",
    "view_file",
]
