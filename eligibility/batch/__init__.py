"""Batch screening of whole registries (issue 6).

A registry (long-format Parquet/CSV tables, or FHIR Bulk NDJSON) is loaded straight into DuckDB
(:mod:`.registry`), each trial's rule AST is compiled to one SQL query with exactly the evaluator's
three-valued semantics (:mod:`.compile`), and the query runs on DuckDB or Spark (:mod:`.run`).
Why SQL: screening a million patients one Python object at a time takes hours; the compiled plan
takes seconds, and the differential tests keep it answer-for-answer identical to the evaluator.
"""

from __future__ import annotations

from .compile import CompiledTrial, compile_trial
from .registry import Registry, load_registry
from .run import BatchResult, explain_patient, run_batch

__all__ = [
    "BatchResult",
    "CompiledTrial",
    "Registry",
    "compile_trial",
    "explain_patient",
    "load_registry",
    "run_batch",
]
