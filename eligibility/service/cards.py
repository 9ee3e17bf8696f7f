"""Ranked matches -> CDS Hooks 2.0 cards.

Why one summary card and not one card per trial: a clinician viewing a chart has seconds; the card says how
many trials may fit and how many answers would settle them, and its markdown detail lists each trial with
its verdict, the criteria that decided it and the questions that would settle the unknowns. Ineligible
trials are not shown (they do not "fit"); when nothing fits the answer is ``{"cards": []}``.

Card rules kept here (CDS Hooks 2.0, "Card Attributes"): ``summary`` under 140 characters; ``indicator``
``info`` (a trial that may fit is information, never a warning); ``source`` with a ``label``; ``detail`` in
GitHub-flavoured markdown; links absolute (or ``smart``) with a label; optional fields left out rather than
sent as null; ``overrideReasons`` as Codings so the EHR can offer "dismiss" with a reason, which the
feedback endpoint stores.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ..library import Match, questions

MAX_SUMMARY = 139
OVERRIDE_SYSTEM = "urn:eligibility:cds:override-reason"
OVERRIDE_REASONS: tuple[dict[str, str], ...] = (
    {"code": "not-interested", "system": OVERRIDE_SYSTEM, "display": "Patient not interested in trials"},
    {"code": "not-appropriate", "system": OVERRIDE_SYSTEM, "display": "Not appropriate for this patient now"},
    {"code": "already-screened", "system": OVERRIDE_SYSTEM, "display": "Already screened for these trials"},
)
SOURCE_LABEL = "Trial eligibility pre-screen"


@dataclass(frozen=True)
class CardOptions:
    worksheet_url: str | None = None
    max_trials: int = 5
    max_questions: int = 3


@dataclass(frozen=True)
class Issued:
    """A card as sent and the trials it lists (feedback on the card applies to those trials)."""

    card: dict[str, Any]
    trials: tuple[str, ...]


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def summary_line(fitting: Sequence[Match], incomplete: bool) -> str:
    """E.g. "3 trials may fit (1 eligible, 2 need 4 answers)"; always under 140 characters."""
    eligible = sum(1 for m in fitting if m.verdict == "eligible")
    review = [m for m in fitting if m.verdict == "needs-review"]
    answers = sum(m.open_questions for m in review)
    parts = []
    if eligible:
        parts.append(f"{eligible} eligible")
    if review:
        parts.append(f"{len(review)} {'needs' if len(review) == 1 else 'need'} {_plural(answers, 'answer', 'answers')}")
    text = f"{_plural(len(fitting), 'trial', 'trials')} may fit ({', '.join(parts)})"
    if incomplete:
        text += "; chart incomplete"
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"


def _md(text: str) -> str:
    """Criterion text as inline markdown: one line, markdown punctuation escaped, bounded length."""
    line = " ".join(text.split())
    if len(line) > 240:
        line = line[:239] + "…"
    for ch in "\\`*_[]<>#|":
        line = line.replace(ch, "\\" + ch)
    return line


def worksheet_link(base: str, trial_id: str, patient_id: str) -> str:
    return f"{base.rstrip('/')}/screen?{urlencode({'trial': trial_id, 'patient': patient_id})}"


def _trial_detail(m: Match, opts: CardOptions) -> list[str]:
    verdict = "eligible on the records" if m.verdict == "eligible" else "needs review"
    lines = [f"**{_md(m.trial)}** — {_md(m.title)}: *{verdict}*"]
    if m.verdict == "needs-review":
        asked = questions(m.result)
        lines.append(f"- {_plural(m.open_questions, 'open question', 'open questions')}; would settle it:")
        for q in asked[: opts.max_questions]:
            lines.append(f"  - {_md(q.criterion)}: {_md(q.ask)} (needs: {_md('; '.join(q.decide_by))})")
        if len(asked) > opts.max_questions:
            lines.append(f"  - and {len(asked) - opts.max_questions} more in the worksheet")
    else:
        met = [c for c in m.result.criteria if c.status == "pass"]
        lines.append(f"- all {len(met)} criteria met on the records")
    return lines


def build_cards(
    matches: Sequence[Match],
    *,
    patient_id: str,
    gaps: Sequence[str],
    open_world: bool,
    screened: int,
    suppressed: int,
    opts: CardOptions,
) -> list[Issued]:
    """Zero or one card for a ranked match list (see module docstring)."""
    fitting = [m for m in matches if m.verdict in ("eligible", "needs-review")]
    if not fitting:
        return []
    shown = fitting[: opts.max_trials]
    detail: list[str] = []
    for m in shown:
        detail.extend(_trial_detail(m, opts))
        detail.append("")
    if len(fitting) > len(shown):
        detail.append(f"And {len(fitting) - len(shown)} more that may fit.")
        detail.append("")
    if gaps:
        detail.append("**Chart incomplete** — screened without these, so some answers are unknown, never “no record”:")
        detail.extend(f"- {_md(g)}" for g in gaps)
        detail.append("")
    if open_world:
        detail.append("A missing record was not taken to mean the condition, drug or procedure is absent.")
        detail.append("")
    footer = f"Screened against {_plural(screened, 'trial', 'trials')} of the library"
    if suppressed:
        footer += f"; {suppressed} hidden after earlier feedback for this patient"
    detail.append(footer + ". A pre-screen from the records, not an enrolment decision.")
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": summary_line(fitting, bool(gaps)),
        "indicator": "info",
        "detail": "\n".join(detail).strip(),
        "source": {"label": SOURCE_LABEL},
        "overrideReasons": [dict(r) for r in OVERRIDE_REASONS],
    }
    if opts.worksheet_url:
        card["source"]["url"] = opts.worksheet_url.rstrip("/") + "/"
        card["links"] = [
            {
                "label": f"Screen {m.trial} in the worksheet",
                "url": worksheet_link(opts.worksheet_url, m.trial, patient_id),
                "type": "absolute",
            }
            for m in shown
        ]
    return [Issued(card, tuple(m.trial for m in shown))]
