"""Ranked matches -> CDS Hooks 2.0 cards.

Why a summary card first: a clinician viewing a chart has seconds; the card says how many trials may fit
and how many answers would settle them, and its markdown detail lists each trial with its verdict, the
criteria that decided it and the questions that would settle the unknowns. Ineligible trials are not shown
(they do not "fit"); when nothing fits the answer is ``{"cards": []}``.

Why one card per trial beside it (when the summary lists more than one): CDS Hooks feedback is per card
(``card`` uuid, ``outcome``, ``overrideReason``); a suggestion cannot be overridden on its own. So a
clinician who wants to dismiss one trial dismisses that trial's card, and only that trial is hidden for the
patient; dismissing the summary card hides every trial it lists.

Card rules kept here (CDS Hooks 2.0, "Card Attributes"): ``summary`` under 140 characters; ``indicator``
``info`` (a trial that may fit is information, never a warning); ``source`` with a ``label``; ``detail`` in
GitHub-flavoured markdown; links absolute and/or ``smart`` (a SMART launch URL with ``appContext``) with a
label; optional fields left out rather than
sent as null; ``overrideReasons`` as Codings so the EHR can offer "dismiss" with a reason, which the
feedback endpoint stores.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
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


#: How each open-world record kind is named on a card.
OPEN_KIND_WORDS = {
    "allergy": "an allergy",
    "condition": "a condition",
    "medication": "a drug",
    "procedure": "a procedure",
}


@dataclass(frozen=True)
class CardOptions:
    worksheet_url: str | None = None
    max_trials: int = 5
    max_questions: int = 3
    smart_launch_url: str | None = None


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


def _links(opts: CardOptions, trials: Sequence[str], patient_id: str) -> list[dict[str, str]]:
    """Per trial, an absolute link to the worksheet and/or a ``smart`` link (SMART launch of the worksheet app
    with the trial in ``appContext``), as configured."""
    links: list[dict[str, str]] = []
    for trial in trials:
        if opts.worksheet_url:
            links.append(
                {
                    "label": f"Screen {trial} in the worksheet",
                    "url": worksheet_link(opts.worksheet_url, trial, patient_id),
                    "type": "absolute",
                }
            )
        if opts.smart_launch_url:
            links.append(
                {
                    "label": f"Open {trial} in the worksheet app (SMART)",
                    "url": opts.smart_launch_url,
                    "type": "smart",
                    "appContext": json.dumps({"trial": trial}, separators=(",", ":")),
                }
            )
    return links


def _card(summary: str, detail: Sequence[str], opts: CardOptions, trials: Sequence[str], patient_id: str) -> Issued:
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": summary,
        "indicator": "info",
        "detail": "\n".join(detail).strip(),
        "source": {"label": SOURCE_LABEL},
        "overrideReasons": [dict(r) for r in OVERRIDE_REASONS],
    }
    if opts.worksheet_url:
        card["source"]["url"] = opts.worksheet_url.rstrip("/") + "/"
    links = _links(opts, trials, patient_id)
    if links:
        card["links"] = links
    return Issued(card, tuple(trials))


def trial_summary(m: Match) -> str:
    """A per-trial card's summary, e.g. "NCT01234567 may fit: needs 2 answers"; under 140 characters."""
    state = (
        "eligible on the records"
        if m.verdict == "eligible"
        else f"needs {_plural(m.open_questions, 'answer', 'answers')}"
    )
    text = f"{m.trial} may fit: {state}"
    if len(text) > MAX_SUMMARY:
        text = text[: MAX_SUMMARY - 1] + "…"
    return text


def build_cards(
    matches: Sequence[Match],
    *,
    patient_id: str,
    gaps: Sequence[str],
    open_kinds: Collection[str] = (),
    screened: int,
    suppressed: int,
    opts: CardOptions,
) -> list[Issued]:
    """The cards for a ranked match list: none when nothing fits; else the summary card and, when it lists
    more than one trial, one card per listed trial (see module docstring)."""
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
    caveats: list[str] = []
    if gaps:
        caveats.append("**Chart incomplete** — screened without these, so some answers are unknown, never “no record”:")
        caveats.extend(f"- {_md(g)}" for g in gaps)
        caveats.append("")
    if open_kinds:
        kinds = ", ".join(OPEN_KIND_WORDS[k] for k in sorted(open_kinds))
        caveats.append(f"A missing record of {kinds} was not taken to mean it is absent.")
        caveats.append("")
    footer = f"Screened against {_plural(screened, 'trial', 'trials')} of the library"
    if suppressed:
        footer += f"; {suppressed} hidden after earlier feedback for this patient"
    footer += ". A pre-screen from the records, not an enrolment decision."
    trials = [m.trial for m in shown]
    out = [_card(summary_line(fitting, bool(gaps)), [*detail, *caveats, footer], opts, trials, patient_id)]
    if len(shown) > 1:
        for m in shown:
            body = [
                *_trial_detail(m, opts),
                "",
                *caveats,
                "Dismiss this card to hide only this trial for this patient.",
            ]
            out.append(_card(trial_summary(m), body, opts, [m.trial], patient_id))
    return out
