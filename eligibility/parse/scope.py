"""Who a criterion is about: another person, a sub-population, and the boundary year of a strict age bound.

* **Another person** ("partner is pregnant", "mother with diabetes", "have a child aged 3-18"): the lexer
  makes such words ``PERSON`` tokens (``tokens: PERSON`` and ``other_person`` in ``data/lexicon.yaml``),
  which the grammar accepts nowhere, the anchored reading treats as a hazard, and the list fallback uses
  to distrust the items the person may be the subject of (:func:`person_suspects`).
* **Sub-populations** ("Cohort B: platelets >= 75", "WOCBP must have a negative pregnancy test",
  "... (for the control group)"): membership M is read by :func:`population_rule`; an inclusion reads as
  ``M implies rest``, an exclusion as ``M and rest``. An unread M leaves Kleene implication unknown where
  the rest fails, so a patient who may not be in the group is never failed.
* **Strict age bounds** ("> 18 years", "over 65", "older than 12"): authors often mean "N or older", and a
  patient who is exactly N in completed years is older than N by days. Both readings are kept
  (``Ambiguous``) so that patient is unknown (:func:`age_boundaries`). A strict upper bound ("< 65",
  "under 18") is exact: aged N in completed years is at least N, so never under N; phrases in
  ``age_strict_upper_ambiguous`` keep both readings anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from lark import Token

from .. import nodes as n
from ..concepts import Vocabulary
from .lexer import lexicon_data, tokenize

__all__ = ["AGE_BOUNDARY_REASON", "age_boundaries", "person_suspects", "population_reading", "population_rule"]

AGE_BOUNDARY_REASON = "'> N years' often means 'N or older' (aged N is older than N by days): aged exactly N is unknown"
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9'’-]*")
_MAX_LABEL_WORDS = 10
Parse = Callable[[str, str, Vocabulary], n.Node]


@dataclass(frozen=True)
class _Population:
    words: frozenset[str]
    everyone: frozenset[str]
    abbreviations: dict[str, str]
    modal: re.Pattern[str]
    lead: re.Pattern[str]
    tail: re.Pattern[str]
    ambiguous_upper: frozenset[str]


def _phrases(words: list[str]) -> str:
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True))


@cache
def _population() -> _Population:
    data = lexicon_data()
    pop = data["population"]
    return _Population(
        words=frozenset(w.lower() for w in pop["words"]),
        everyone=frozenset(w.lower() for w in pop["everyone"]),
        abbreviations={str(k): str(v) for k, v in pop["abbreviations"].items()},
        modal=re.compile(r"\s+(?:" + _phrases(pop["modal"]) + r")\s+", re.IGNORECASE),
        lead=re.compile(r"^\s*(?:" + _phrases(pop["lead"]) + r")\s+", re.IGNORECASE),
        tail=re.compile(r"\s+(?:" + _phrases(pop["tail"]) + r")\s*$", re.IGNORECASE),
        ambiguous_upper=frozenset(" ".join(w.lower().split()) for w in data["age_strict_upper_ambiguous"]),
    )


# ---- another person ----------------------------------------------------------------------------
def person_suspects(pieces: list[list[Token]]) -> set[int]:
    """Items of a list that another person named in it may be the subject of.

    A person leading an item ("mother with diabetes or heart failure") may carry over the items after
    it; a person later in an item ("diabetes or hypertension in a first-degree relative") may describe
    the items before it. The items naming the person do not read anyway (the grammar rejects PERSON).
    """
    out: set[int] = set()
    for i, piece in enumerate(pieces):
        at = [k for k, t in enumerate(piece) if t.type == "PERSON"]
        if not at:
            continue
        leads = at[0] == 0 or (at[0] == 1 and piece[0].type == "WORD")  # "their mother ..."
        out.update(range(i + 1, len(pieces)) if leads else range(i))
    return out


# ---- sub-populations ---------------------------------------------------------------------------
def _expand(label: str) -> str:
    for abbr, full in _population().abbreviations.items():
        label = re.sub(rf"\b{re.escape(abbr)}\b", full, label)
    return label


def _content(label: str) -> list[str]:
    return [m.group(0).lower() for m in _WORD_RE.finditer(label)]


def population_rule(label: str, vocab: Vocabulary) -> n.Node | None:
    """The rule for membership of the group a label names, or None when the label names no group.

    Contract (for the criterion splitter's section sub-headings and for the readers here):

    * ``label`` is the group as written, with or without a trailing colon or a leading "for"/"in"
      ("Cohort B:", "For women of child-bearing potential", "Male participants", "Healthy volunteers").
    * None: the label is not a group (no word of ``population.words`` in ``data/lexicon.yaml``, more
      than ten words, or only words for every participant such as "Patients"); read the criteria under
      it as they read alone.
    * Otherwise a rule M that is true for members, false for non-members and unknown where the record
      cannot say: a sex ("Male participants" -> male), an age band ("Patients aged 12-17 years"), a coded
      condition; a label led by a sex word is that sex AND the unread rest ("Women of child-bearing
      potential" -> female and {...}, so a man is not a member); any other group (a cohort, an arm,
      "healthy volunteers") is :class:`~eligibility.nodes.Unparsed` with the reason, never guessed.
    * The caller reads an inclusion under the label as ``Implies(M, rule)`` and an exclusion as
      ``And(M, rule)``: with an unknown M neither can fail or exclude a patient who may not be a member.
    """
    from . import parse_criterion  # the package imports this module

    text = _expand(label).strip(" \t:;,.-")
    text = _population().tail.sub("", _population().lead.sub("", text)).strip(" \t:;,.-")
    words = _content(text)
    pop = _population()
    if not words or len(words) > _MAX_LABEL_WORDS or not any(w in pop.words for w in words):
        return None
    if all(w in pop.everyone for w in words):
        return None
    rule = n.strip_spans(parse_criterion(text, "exclusion", vocab))
    if not any(isinstance(x, n.Unparsed) for x in n.walk(rule)):
        return rule
    why = f"membership of the group '{label.strip(' :')}' is not in the record"
    unread = n.Unparsed(text=label.strip(" :"), reason=why)
    tokens = tokenize(text, vocab)
    hazards = {"OR", "ANDOR", "NOT", "EXCEPT", "IF"}
    if tokens and tokens[0].type == "SEXW" and not any(t.type in hazards for t in tokens):
        sexes = {t.value for t in tokens if t.type == "SEXW"}
        if len(sexes) == 1:  # "Women of child-bearing potential" are women
            return n.And(items=(n.Sex(sexes=(tokens[0].value,)), unread))
    return unread


def _split_label(text: str) -> tuple[str, int, int] | None:
    """(label, where the rest starts, label end) for "Label: rest", "For label, rest" and "Label must rest"."""
    pop = _population()
    colon = text.find(":")
    # one label over one criterion: not a sentence before it, not another label after it
    if (
        colon > 0
        and text[colon + 1 :].strip()
        and not re.search(r"[(;.]", text[:colon])
        and ":" not in text[colon + 1 :]
    ):
        return text[:colon], colon + 1, colon
    lead = pop.lead.match(text)
    if lead:
        comma = text.find(",")
        if comma > lead.end():
            return text[:comma], comma + 1, comma
    modal = pop.modal.search(text)
    if modal and modal.start() > 0:
        return text[: modal.start()], modal.end(), modal.start()
    return None


def _split_tail(text: str) -> tuple[str, int] | None:
    """(label, where it starts) for a last parenthesis that names a group: "... (for cohort B)"."""
    stripped = text.rstrip(" \t.;")
    if not stripped.endswith(")"):
        return None
    open_ = stripped.rfind("(")
    if open_ <= 0 or ")" in stripped[open_:-1]:
        return None
    return stripped[open_ + 1 : -1], open_


def population_reading(text: str, kind: str, vocab: Vocabulary, parse: Parse) -> n.Node | None:
    """A criterion scoped to a group read as membership implies (inclusion) or and (exclusion) the rest.

    None when the text names no group in one of the forms of :func:`_split_label` / :func:`_split_tail`,
    or when neither the membership nor the rest reads at all.
    """
    groups = _group_sentences(text, kind, vocab, parse)
    if groups is not None:
        return groups
    head = _split_label(text)
    tail = _split_tail(text) if head is None else None
    if head is not None:
        label, rest0, label_end = head
        rest_span = (rest0, len(text))
        label_span = (0, label_end)
    elif tail is not None:
        label, open_ = tail
        rest_span, label_span = (0, open_), (open_, len(text))
    else:
        return None
    if tail is not None and _listed(text[rest_span[0] : rest_span[1]], vocab):
        return None  # "A or B (for children)": the group may scope the last alternative only
    membership = population_rule(label, vocab)
    if membership is None:
        return None
    if head is not None and text[rest0 - 1] not in ":," and not _subgroup(membership):
        return None  # "Men and women aged 18-65 must ..." states who may take part, not a sub-group
    rest_text = text[rest_span[0] : rest_span[1]]
    if not rest_text.strip():
        return None
    if head is not None and continues_label(rest_text):
        # "For adults aged 75 or older, or who have comorbidities ...: ...": the comma is inside the label,
        # whose end is not known; reading the first part as the whole group would pass the others (seed 17).
        return None
    other = _another_group(rest_text, vocab) if head is not None else None
    if other is not None:
        # "WOCBP must have a negative test. Men with partners of child-bearing potential must agree ...": the
        # label scopes its own sentence, not the next group's requirement, which a man would otherwise pass.
        return n.Unparsed(
            text=text,
            reason=f"it states requirements for more than one group ('{label.strip()}', '{other}'): split them",
            span=(0, len(text)),
        )
    from . import _shifted

    rest = _shifted(parse(rest_text, kind, vocab), rest_span[0])
    if tail is not None and any(isinstance(x, n.Sex) for x in n.walk(rest)):
        # "Women and men (women premenopausal)": a parenthesis on who may take part restricts one of them;
        # it does not make the statement conditional.
        return None
    member = _shift(membership, label_span)
    if not any(not n.children(x) and not isinstance(x, n.Unparsed) for x in (*n.walk(rest), *n.walk(member))):
        return None
    whole = (0, len(text))
    if kind == "exclusion":
        return n.And(items=(member, rest), span=whole)
    if isinstance(member, n.Unparsed) and not _ARM_RE.search(label):
        # "Conscious adult patients: >= 18 years": an unread label may be a requirement ("conscious") as
        # well as a group; only a cohort, arm or part is surely a group. Keep both readings.
        return n.Ambiguous(
            readings=(n.Implies(condition=member, then=rest, span=whole), n.And(items=(member, rest), span=whole)),
            span=whole,
            reason="the label may name the group the criterion is for, or require it",
        )
    return n.Implies(condition=member, then=rest, span=whole)


# A rest that goes on coordinating the label ("..., or who ...", "..., and those with ...").
_CONTINUES_RE = re.compile(r"\s*(?:or|and|and/or|nor)\b", re.IGNORECASE)


def continues_label(rest: str) -> bool:
    """Whether the text after a label's comma coordinates with the label instead of starting the criterion."""
    return _CONTINUES_RE.match(rest) is not None

_SENTENCE_RE = re.compile(r"(?<=[.;])\s+(?=[A-Z(])")


def _group_sentences(text: str, kind: str, vocab: Vocabulary, parse: Parse) -> n.Node | None:
    """Several sentences each scoped to its own group: "Cohort A: platelets >= 75. Cohort B: platelets >= 50".

    Each sentence is read under its own label and the readings are joined (an inclusion holds for whichever
    group the patient is in: every ``M implies rest``; an exclusion applies if any ``M and rest`` does), so no
    group's threshold is applied to another. When only some sentences carry a group the whole is unread.
    None when no sentence after the first names a group.
    """
    bounds = [0, *(m.end() for m in _SENTENCE_RE.finditer(text))]
    pieces = [(start, text[start:end]) for start, end in zip(bounds, [*bounds[1:], len(text)], strict=True)]
    labelled = [_labelled(piece, vocab) for _, piece in pieces]
    if not any(labelled[1:]):
        return None  # one label, first: it scopes the whole text (population_reading's own case)
    if not all(labelled):
        reason = "it states requirements for more than one group, and not every sentence names its group: split them"
        return n.Unparsed(text=text, reason=reason, span=(0, len(text)))
    from . import _shifted

    readings: list[n.Node] = []
    for start, piece in pieces:
        body = piece.rstrip(" \t.;")
        read = population_reading(body, kind, vocab, parse)
        if read is None:
            read = n.Unparsed(text=body, reason="a group's requirement that did not read", span=(0, len(body)))
        readings.append(_shifted(read, start))
    whole = (0, len(text))
    return n.And(items=tuple(readings), span=whole) if kind != "exclusion" else n.Or(items=tuple(readings), span=whole)


def _labelled(sentence: str, vocab: Vocabulary) -> bool:
    head = _split_label(sentence.rstrip(" \t.;"))
    return head is not None and population_rule(head[0], vocab) is not None


def _another_group(rest: str, vocab: Vocabulary) -> str | None:
    """The label of a later sentence of ``rest`` that scopes itself to a group ("Men ... must ..."), if any."""
    for sentence in _SENTENCE_RE.split(rest)[1:]:
        head = _split_label(sentence)
        if head is not None and population_rule(head[0], vocab) is not None:
            return head[0].strip()
    return None


_ARM_RE = re.compile(
    r"\b(?:cohorts?|arms?|parts?|groups?|phases?|stages?|strat(?:um|a)|sub-?stud(?:y|ies)|expansion|escalation"
    r"|controls?|volunteers?|donors?|recipients?)\b",
    re.I,
)


_LIST_TOKENS = frozenset({"OR", "ANDOR", "SEMI", "COMMA", "LPAR", "IF", "EXCEPT"})


def _listed(text: str, vocab: Vocabulary) -> bool:
    """Alternatives, a list or another parenthesis before a trailing group: the group's scope is unclear."""
    return any(t.type in _LIST_TOKENS for t in tokenize(text, vocab))


def _subgroup(membership: n.Node) -> bool:
    """A subject that narrows who is meant ("Female patients must", "Participants with HIV must"), not one
    that says who may take part ("Men and women aged 18-65 must ...": an age band, both sexes)."""
    nodes_ = n.walk(membership)
    return not any(isinstance(x, n.Age) or (isinstance(x, n.Sex) and len(x.sexes) > 1) for x in nodes_)


def _shift(rule: n.Node, span: tuple[int, int]) -> n.Node:
    """A rule read apart from the text, pointed at its words as a whole (its parts keep no spans)."""
    return rule.model_copy(update={"span": span})


# ---- strict age bounds -------------------------------------------------------------------------
def age_boundaries(rule: n.Node, text: str, vocab: Vocabulary) -> n.Node:
    """Every strict age bound of a free-text reading with both readings kept (see the module docstring)."""
    if isinstance(rule, n.Ambiguous) and rule.reason == AGE_BOUNDARY_REASON:
        return rule
    if isinstance(rule, n.Age):
        other = _other_age(rule, text)
        if other is not None:
            return other
        return _age_boundary(rule, text, vocab)
    return n.rebuild(rule, lambda x: age_boundaries(x, text, vocab))


# "Gestational age 26-34 weeks", "corrected age", "bone age": an age, but not the participant's in years.
_OTHER_AGE_RE = re.compile(
    r"\b(gestational|gestation|corrected|post-?menstrual|post-?conceptional|bone|skeletal|mental|developmental|"
    r"reading|fetal|foetal)\s*$",
    re.I,
)


def _other_age(age: n.Age, text: str) -> n.Node | None:
    """An Unparsed for an age that is not the participant's ("gestational age 26 to 34 weeks"), else None."""
    if age.span is None:
        return None
    word = _OTHER_AGE_RE.search(text[: age.span[0]].rstrip())
    if word is None:
        return None
    return n.Unparsed(
        text=text[age.span[0] : age.span[1]],
        reason=f"a {word.group(1).lower()} age, not the participant's age in years",
        span=age.span,
    )


def _age_boundary(age: n.Age, text: str, vocab: Vocabulary) -> n.Node:
    if age.op not in (">", "<") or age.span is None:
        return age
    if age.op == "<" and _written_op(text[age.span[0] : age.span[1]], vocab) not in _population().ambiguous_upper:
        return age
    inclusive = age.model_copy(update={"op": age.op + "="})
    return n.Ambiguous(readings=(age, inclusive), reason=AGE_BOUNDARY_REASON, span=age.span)


def _written_op(span_text: str, vocab: Vocabulary) -> str:
    """The comparison as written in an age's words ("under", "less than", "<"), lower case."""
    cmp = next((t for t in tokenize(span_text, vocab) if t.type == "CMP"), None)
    if cmp is None:
        return ""
    return " ".join(span_text[cmp.start_pos or 0 : cmp.end_pos or 0].lower().split())


def settle_age_boundaries(
    rule: n.Node, kind: str, minimum: tuple[float, str] | None, maximum: tuple[float, str] | None
) -> tuple[n.Node, str | None]:
    """The age boundaries a registry's structured ages settle, and a note saying which; else ``rule`` as is.

    ClinicalTrials.gov's minimum and maximum ages are inclusive and are the sponsor's own statement of
    the boundary, so "> 18 years" over a structured minimum of 18 years admits an 18-year-old: an
    inclusion keeps its inclusive reading, and an exclusion of the ages beyond an inclusive bound keeps
    its strict one. Only the exact boundary value in the same unit is settled.
    """
    settled: list[str] = []

    def visit(node: n.Node) -> n.Node:
        if isinstance(node, n.Ambiguous) and node.reason == AGE_BOUNDARY_REASON:
            strict = node.readings[0]
            if isinstance(strict, n.Age) and strict.value2 is None:
                lower = strict.op == ">"
                # the structured bound that admits this very age
                bound = (minimum if lower else maximum) if kind == "inclusion" else (maximum if lower else minimum)
                if bound is not None and bound == (strict.value, strict.unit):
                    which = "minimum" if bound is minimum else "maximum"
                    settled.append(f"{which} age {bound[0]:g} {bound[1]}")
                    return node.readings[1] if kind == "inclusion" else strict
            return node
        return n.rebuild(node, visit)

    out = visit(rule)
    if not settled:
        return rule, None
    return out, f"the age boundary was settled by the registry's structured {', '.join(settled)} (inclusive)"
