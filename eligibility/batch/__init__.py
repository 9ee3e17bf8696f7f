"""Batch screening of whole registries (issue 6).

A registry (long-format Parquet/CSV tables, or FHIR Bulk NDJSON) is loaded straight into DuckDB
(:mod:`.registry`), each trial's rule AST is compiled to one SQL query with exactly the evaluator's
three-valued semantics (:mod:`.compile`), and the query runs on DuckDB or Spark (:mod:`.run`).
Why SQL: screening a million patients one Python object at a time takes hours; the compiled plan
takes seconds, and the differential tests keep it answer-for-answer identical to the evaluator.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compile import CompiledTrial, compile_trial
    from .registry import Registry, load_registry
    from .run import BatchResult, explain_patient, run_batch

# Loaded on first use: the CLI imports this package for its commands, and every other command
# (screen, parse) should not pay for sqlglot and DuckDB at start-up.
_HOME = {
    "CompiledTrial": "compile",
    "compile_trial": "compile",
    "Registry": "registry",
    "load_registry": "registry",
    "BatchResult": "run",
    "explain_patient": "run",
    "run_batch": "run",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BatchResult",
    "CompiledTrial",
    "Registry",
    "compile_trial",
    "explain_patient",
    "load_registry",
    "run_batch",
]
