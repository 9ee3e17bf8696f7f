"""The evaluator of :class:`~eligibility.nodes.Allergy`: "allergy / hypersensitivity / intolerance to <drug>".

Kept apart from evaluate.py (which registers it) because it is one job: each drug-reaction record is read
by :func:`eligibility.allergies.read_record` (the substance and the kind) and by the condition rules for
its status and dates (an inactive or resolved allergy is no current allergy); absence is decided as
``drug_allergy`` decides it (closed world within what was obtained; missing allergy records are unknown).
"""

from __future__ import annotations

from typing import Any

from . import nodes as n
from .allergies import CLOSED_BY, DRUG_REACTION_KINDS, RecordReading, read_record
from .evaluate import (
    Context,
    Evidence,
    Verdict,
    _closed,
    _condition_truth,
    _first_few,
    _matched_by,
    _unread_caveat,
)
from .logic import Tri, all_of


def allergy_records(ctx: Context) -> list[Any]:
    """The patient's condition records of a drug-reaction kind, in record order."""
    seen: set[int] = set()
    out: list[Any] = []
    for kind in DRUG_REACTION_KINDS:
        for rec in ctx.matching(ctx.patient.conditions, kind):
            if id(rec) not in seen:
                seen.add(id(rec))
                out.append(rec)
    order = {id(rec): i for i, rec in enumerate(ctx.patient.conditions)}
    return sorted(out, key=lambda rec: order[id(rec)])


def _label(rec: Any) -> str:
    """The record as a person finds it: its name, code and onset."""
    coded = f" ({rec.system} {rec.code})" if rec.code else ""
    since = f", onset {rec.onset}" if rec.onset else ""
    return f"{rec.text or rec.concept or 'an allergy record'}{coded}{since}, status {rec.status}"


def reaction_name(r: n.Allergy, ctx: Context) -> str:
    what = "allergy" if r.reaction == "allergy" else "allergy or intolerance"
    return f"{'history of ' if r.timing == 'history' else ''}{what} to {ctx.name(r.concept)}"


def visit_allergy(r: n.Allergy, ctx: Context) -> Verdict:
    name = reaction_name(r, ctx)
    timing = n.Condition(concept=CLOSED_BY, timing=r.timing)
    closed_concept = ctx.vocab.concepts.get(CLOSED_BY)
    read: list[tuple[Tri, RecordReading, Any]] = []
    for rec in allergy_records(ctx):
        reading = read_record(ctx.vocab, rec, ctx.concepts_of(rec), r.concept, r.reaction)
        if reading is None:
            continue
        when = _condition_truth(timing, rec, ctx, closed_concept, None)
        read.append((all_of([reading.truth, when]), reading, rec))
    evidence = tuple(
        Evidence(
            kind="condition",
            concept=r.concept,
            description=f"{_label(rec)}: {reading.why}",
            value=rec.status,
            date=rec.onset,
            source=rec.source,
            matched_by=_matched_by(rec, CLOSED_BY, ctx),
        )
        for _, reading, rec in read
    )
    hits = [(reading, rec) for truth, reading, rec in read if truth is Tri.TRUE]
    if hits:
        reading, rec = hits[0]
        verdict = Verdict(Tri.TRUE, f"{_label(rec)}: {reading.why}: {name}", evidence=evidence)
        return verdict
    open_ = [(reading, rec) for truth, reading, rec in read if truth is Tri.UNKNOWN]
    if open_:
        listed = _first_few([f"{_label(rec)} ({reading.why})" for reading, rec in open_], "; ")
        verdict = Verdict(
            Tri.UNKNOWN,
            f"drug allergy record(s) that may be {name}: {listed}",
            evidence=evidence,
            missing=(f"whether {listed} is {name}",),
        )
        return _unread_caveat(ctx, "condition", name, verdict)
    if read:
        listed = _first_few([f"{_label(rec)} ({reading.why})" for _, reading, rec in read], "; ")
        reason = f"drug allergy record(s), none {name}: {listed}"
    else:
        reason = f"no drug allergy or intolerance recorded, so no {name}"
    verdict = _closed(ctx, Tri.FALSE, reason, name, evidence, kind="condition", concept=CLOSED_BY)
    return _unread_caveat(ctx, "condition", name, verdict)
