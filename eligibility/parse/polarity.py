"""Exclusions worded as requirements: "Exclusion criteria: - No known HIV infection".

Read literally, such an item excludes every patient *without* the condition, which turns a trial into a
confident "ineligible" for nearly everyone. The author nearly always meant the opposite (the item lists
what patients must not have), yet some exclusions are literal ("No measurable disease" where the trial needs
it). Neither reading can be chosen from the text, so both are kept as an :class:`~eligibility.nodes.Ambiguous`
node: the two readings disagree on every decided record, so the criterion stays unknown and the coordinator
is asked, instead of the engine guessing a polarity. The lead words are data (``negated_exclusion`` in
``data/lexicon.yaml``).
"""

from __future__ import annotations

import re
from functools import cache

from .. import nodes as n
from .lexer import lexicon_data

REASON = (
    "an exclusion worded as a requirement ('No X'): read literally it excludes patients without X, but it usually"
    " means patients with X are excluded; the record cannot tell which was meant"
)
_MARKER = r"(?:[-*•·▪‣o]\s+|\(?[0-9]{1,2}[.)]\s+|\(?[a-z][.)]\s+)?"


def _phrases(words: list[str]) -> str:
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True))


@cache
def _lead() -> re.Pattern[str]:
    data = lexicon_data()["negated_exclusion"]
    subjects = _phrases(data["subjects"])
    verbs = _phrases(data["verbs"])
    cues = _phrases(data["cues"])
    return re.compile(
        rf"^\s*{_MARKER}(?:(?:{subjects})\s+)?(?:(?:{verbs})\s+)?(?:{cues})\b(?![-/])",
        re.IGNORECASE,
    )


REQUIREMENT_REASON = (
    "an exclusion worded as a requirement ('X must be ...'): read literally it excludes the patients who meet it,"
    " but it usually means those who do not; the record cannot tell which was meant"
)


@cache
def _modal() -> re.Pattern[str]:
    return re.compile(rf"\b(?:{_phrases(lexicon_data()['requirement_modals'])})\b", re.IGNORECASE)


def negated_lead(text: str) -> bool:
    """Whether the criterion opens with a negation ("No ...", "Patients with no ...", "Without ...")."""
    return _lead().match(text) is not None


def exclusion_polarity(rule: n.Node, text: str, kind: str) -> n.Node:
    """``rule`` itself, or both polarities when an exclusion opens with a negation and is read with one.

    Only a reading that holds a negation is touched: "No more than 2 prior lines" opens with "no" but is a
    comparison. The other polarity of a literal reading ``R`` is ``not R`` (of ``not X`` simply ``X``); a
    reading that is itself ambiguous ("No stroke, epilepsy or asthma": does "no" reach every item?) keeps
    its readings on the literal side, so the whole never decides on one polarity.
    """
    if kind != "exclusion" or isinstance(rule, n.Unparsed):
        return rule
    meant: n.Node = rule.item if isinstance(rule, n.Not) else n.Not(item=rule, span=rule.span)
    if negated_lead(text) and any(isinstance(x, n.Not) for x in n.walk(rule)):
        return n.Ambiguous(readings=(rule, meant), reason=REASON, span=rule.span)
    if _modal().search(text) is not None:  # "Platelets must be > 100 x 10^9/L" under the exclusions
        return n.Ambiguous(readings=(rule, meant), reason=REQUIREMENT_REASON, span=rule.span)
    return rule
