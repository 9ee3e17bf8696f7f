"""Rule AST -> one SQL query per trial, with exactly the Python evaluator's semantics.

Why a compiler and not a second evaluator: the SQL is built from the same AST, leaf by leaf, and
the parts where the evaluator consults Python data -- which codes stand for which concept, unit
conversion factors, default reference ranges -- are *computed by the evaluator's own functions*
for the few distinct values present in the registry and written into the query as constants
(``rkey IN (...)``, ``CASE unit WHEN ...``). So concept resolution and Pint stay in one place and
an improvement there reaches batch screening without touching this file.

Three-valued logic is SQL NULL: ``AND``/``OR``/``NOT`` are already Kleene in SQL, unknown is NULL,
``Implies`` is ``NOT a OR b``, ``Ambiguous`` is true when every reading is true, false when every
reading is false, else NULL; ``Unparsed`` is NULL. Every leaf reads a CTE with one row per patient
that has matching records; a patient without a row gets the leaf's "no record" truth (closed world
false, open world NULL, labs NULL, stable dose true). For speed, leaves share CTEs where that is
exact: one pivot per record table (``conds``, ``meds``, ``procs``: one scan and one GROUP BY
patient_id, each leaf's aggregates over its own rows only), and one ``arg_max`` pick per lab
(concept, window) instead of a window sort; the leaves needing more (end events, tests, runs of
consecutive days) keep their own CTE (``patient_id, t, v``). Each CTE is joined once.

The query is built with sqlglot expressions (never by pasting SQL text), so that it can be
generated for DuckDB and transpiled to Spark.
"""

from .plans import CompiledTrial, CriterionPlan, Dialect, Profile, SharedPlan
from .sql import _as
from .trials import compile_trial, compile_trials, status_column, value_column

__all__ = [
    "CompiledTrial",
    "CriterionPlan",
    "Dialect",
    "Profile",
    "SharedPlan",
    "_as",
    "compile_trial",
    "compile_trials",
    "status_column",
    "value_column",
]
