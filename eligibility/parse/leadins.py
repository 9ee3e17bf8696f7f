"""What a heading does to the criteria under it.

A criteria document is an outline: a lead-in ("At least one of the following:"), a sub-heading ("Cohort B:") or
a header's qualifier ("Inclusion criteria for donors") heads the items below it, and read alone those items
may mean something else. "At least one of: diabetes; hypertension" read item by item fails a patient who has
only one of them; "Must not have had: chemotherapy" read item by item requires chemotherapy. The splitter
(:mod:`eligibility.io.criteria_text`) keeps each item's headings in ``RawCriterion.section``; this module
turns an item's own reading into the reading it has under its headings, and only ever in a way that Kleene
logic keeps sound:

* **any** ("one of", "at least one of", "either") over inclusion items: one item met is enough, so an item
  met passes and an item not met is unknown (never a fail). In an exclusion list the items exclude one by
  one already.
* **all** ("all of", "both") over exclusion items: an item absent clears the patient, an item present is
  unknown.
* **none** (a negated lead-in over inclusion items, "Must not have:"): each item reads negated.
* **several** ("at least two of the following"): one item alone neither meets an inclusion group nor excludes;
  an inclusion item is unknown, an exclusion item absent clears the patient and present is unknown.
* **examples** ("such as", "including"): the items are examples of a class the heading names; in an
  inclusion one example met is enough and none met is unknown (the class may hold otherwise), in an
  exclusion an example on record excludes and their absence is unknown.
* **exceptions** ("The following will not be excluded:"): the items are not requirements; they are left for
  review, and the criterion just above them cannot be decided against the patient either.
* **a group or a requirement** ("Cohort B:", "Women of child-bearing potential:", "Patients with diabetes
  who have:"): the heading's own words are read as a clause M (as far as they read). An exclusion item
  reads as M and the item. An inclusion item reads as M implies the item when the heading names a
  group, as M and the item when it states a requirement, and both readings (Ambiguous) when the words do
  not say which. A short topic label ("Laboratory values", "Medical history") adds nothing.

The words are data (``data/sections.yaml``, section ``lead_ins`` and ``headings``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from .. import nodes as n
from ..concepts import Vocabulary
from ..io.headers import phrase_re, sections_data
from .frames import frame_of, framed
from .lexer import lexicon_data
from .scope import population_rule

__all__ = ["Scoped", "overridden", "scope_items"]

_WORD_RE = re.compile(r"[a-z0-9][a-z0-9'/-]*")
_MAX_TOPIC_WORDS = 5


@dataclass(frozen=True)
class _Words:
    any: re.Pattern[str]
    several: re.Pattern[str]
    all: re.Pattern[str]
    none: re.Pattern[str]
    examples: re.Pattern[str]
    definition: re.Pattern[str]
    universal: re.Pattern[str]
    population: re.Pattern[str]
    requirement: re.Pattern[str]
    relaxing: re.Pattern[str]
    exception: re.Pattern[str]
    intro_exclusion: re.Pattern[str]
    fluff: frozenset[str]
    hazards: frozenset[str]


@cache
def _words() -> _Words:
    data = sections_data()
    lead, head = data["lead_ins"], data["headings"]
    return _Words(
        any=phrase_re(lead["any"]),
        several=phrase_re(lead["several"]),
        all=phrase_re(lead["all"]),
        none=phrase_re(lead["none"]),
        examples=phrase_re(lead["examples"]),
        definition=phrase_re(lead["definition"]),
        universal=phrase_re(lead["universal"]),
        population=phrase_re(head["population"]),
        requirement=phrase_re(head["requirement"]),
        relaxing=phrase_re(head["relaxing"]),
        exception=phrase_re(head["exception"]),
        intro_exclusion=phrase_re(data["intros"]["exclusion"]),
        fluff=frozenset(w.lower().rstrip(":") for w in lead["fluff"]),
        hazards=frozenset(w.lower() for w in lexicon_data()["anchor_hazards"]),
    )


@dataclass(frozen=True)
class Scoped:
    """The readings of a group of items under their headings.

    ``overrides_previous``: the group grants exceptions to the criterion above it, which therefore cannot
    be decided against the patient on its own.
    """

    rules: tuple[n.Node, ...]
    overrides_previous: bool = False


def _strip_phrases(text: str) -> str:
    """The heading without its combinator and definition phrases, for reading its own words."""
    w = _words()
    out = text
    for pattern in (w.universal, w.several, w.any, w.all, w.examples, w.definition):
        out = pattern.sub(" ", out)
    out = re.sub(r"\bthe following\b|\bfollowing\b|\bas follows\b|\bbelow\b", " ", out, flags=re.I)
    return re.sub(r"\s+", " ", out).strip(" :;,.-")


def _content_words(text: str) -> list[str]:
    """Words of a heading that are not fluff: what it says beyond introducing its items."""
    fluff = _words().fluff
    return [m.group(0) for m in _WORD_RE.finditer(_strip_phrases(text).lower()) if m.group(0) not in fluff]


def _unread(text: str, reason: str) -> n.Unparsed:
    return n.Unparsed(text=text, reason=reason)


def _heading_clause(heading: str, vocab: Vocabulary) -> n.Node:
    """The heading's own words read as a clause (as far as they read)."""
    from . import parse_criterion  # the package imports this module

    rest = _strip_phrases(heading)
    rule = parse_criterion(rest, "exclusion", vocab) if rest else _unread(heading, "empty heading")
    return n.strip_spans(rule)


def _computable(rule: n.Node) -> bool:
    return any(not n.children(x) and not isinstance(x, n.Unparsed | n.Measurement) for x in n.walk(rule))


# A threshold of the heading's own after its definition phrase ("anaemia defined as Hb < 10.5 g/dL with any of the
# following"); a window or a count after it ("defined as all of the following within 14 days") is no requirement.
_OWN_THRESHOLD_RE = re.compile(r"[<>≤≥=]|\b(?:less|greater|more|higher|lower|below|above|at least|at most)\b", re.I)
_PEOPLE_RE = re.compile(
    r"\b(?:candidates?|patients?|subjects?|participants?|individuals?|persons?|people|recipients?)\s+"
    r"(?:with|who|having|whose|that|presenting)\b",
    re.I,
)


def _is_topic(heading: str, content: list[str], clause: n.Node) -> bool:
    """A short label such as "Laboratory values" or "Prior therapy": it names a subject, not a condition."""
    w = _words()
    if w.population.search(heading) or w.requirement.search(heading) or _computable(clause):
        return False
    if _PEOPLE_RE.search(heading):
        return False  # "Liver transplantation candidates with ...": it says who, so it may be a requirement
    if len(content) > _MAX_TOPIC_WORDS or any(c.isdigit() for c in heading):
        return False
    return not any(word in w.hazards for word in content)


def _unsure(heading: str, wrapped: n.Node, alone: n.Node) -> n.Node:
    """Both the reading under the heading and the item alone, where it is not sure the heading covers it."""
    readings = wrapped.readings if isinstance(wrapped, n.Ambiguous) else (wrapped,)
    return n.Ambiguous(
        readings=(*readings, alone), reason=f"the heading '{_clip(heading)}' may or may not cover this criterion"
    )


def _clip(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


@dataclass(frozen=True)
class _Scope:
    """What a heading does to each item under it: ``form`` and the heading's own reading ``clause``.

    Worked out once per heading (it reads the heading's words), then applied to every item.
    """

    heading: str
    form: str  # plain | and | and-or-plain (exclusion topic) | or | implies | implies-or-and
    clause: n.Node | None = None

    def apply(self, rule: n.Node, nested: bool) -> n.Node:
        if self.form == "plain" or self.clause is None:
            return rule
        clause, label = self.clause, _clip(self.heading)
        wrapped: n.Node
        if self.form == "and":
            wrapped = n.And(items=(clause, rule))
        elif self.form == "and-or-plain":
            # "Cardiac disease:" over "myocardial infarction": a topic that names a concept; a record of the
            # item without one of the topic must not clear the patient.
            wrapped = n.Ambiguous(
                readings=(n.And(items=(clause, rule)), rule), reason=f"the heading '{label}' may be a topic"
            )
        elif self.form == "or":
            wrapped = n.Or(items=(rule, clause))
        elif self.form == "implies":
            wrapped = n.Implies(condition=clause, then=rule)
        else:
            wrapped = n.Ambiguous(
                readings=(n.Implies(condition=clause, then=rule), n.And(items=(clause, rule))),
                reason=f"the heading '{label}' may name the group these criteria are for, or require it",
            )
        return wrapped if nested else _unsure(self.heading, wrapped, rule)


def _scope(kind: str, heading: str, vocab: Vocabulary) -> _Scope:
    """How items under a heading that names a group or states a requirement read (module docstring)."""
    w = _words()
    content = _content_words(heading)
    defined = w.definition.search(heading)
    # "Adequate organ function defined as:": the items are the definition; but "anaemia defined as Hb < 10.5 with
    # any of the following:" defines its own words and asks for the items besides (seed 21)
    if not content or (defined is not None and not _OWN_THRESHOLD_RE.search(heading[defined.end() :])):
        return _Scope(heading, "plain")
    requirement = bool(w.requirement.search(heading) or _PEOPLE_RE.search(heading))
    member = None if requirement else population_rule(_strip_phrases(heading), vocab)
    if member is not None:
        # A group the reader recognises ("Male participants", "Cohort B", "Women of child-bearing
        # potential"): membership as far as the record tells it. An age band ("Male or female aged
        # 20-80:") is as often a requirement as a group: both readings are kept below.
        clause = n.strip_spans(member)
        population = not any(isinstance(x, n.Age) for x in n.walk(clause))
    else:
        clause = _heading_clause(heading, vocab)
        if _is_topic(heading, content, clause):
            return _Scope(heading, "plain")
        if not _computable(clause):
            clause = _unread(heading, "a heading the engine cannot check")
        population = bool(w.population.search(heading))
    if kind == "exclusion":
        return _Scope(heading, "and" if population else "and-or-plain", clause)
    if w.relaxing.search(_strip_phrases(heading)):
        return _Scope(heading, "or", clause)
    if population and not requirement:
        return _Scope(heading, "implies", clause)
    if requirement and not population:
        return _Scope(heading, "and", clause)
    return _Scope(heading, "implies-or-and", clause)


def _combine(kind: str, heading: str, rules: Sequence[n.Node]) -> list[n.Node] | None:
    """Apply the heading's combinator words; None when it has none.

    Each item gets the form that is sound whether or not it belongs to the group: one item met passes an
    "any" group, one item absent clears an "all" exclusion, and otherwise the item is unknown. An OR over
    the whole group would also let the group fail, but registry outlines are not reliable enough for
    that: a badly indented list puts unrelated criteria under "one of the following:", and one of them
    met would then pass all the others.
    """
    w = _words()
    group = tuple(rules)
    heading = w.universal.sub(" ", heading)  # "For both phases:" is no "both of the following"
    if w.examples.search(heading):
        cls = _unread(heading, "a class named by its examples; an example not listed may also meet it")
        return [n.Or(items=(r, cls)) for r in group]
    if w.several.search(heading):
        if kind == "inclusion":
            # A reading of the item would be kept visible by a form such as "item or unknown", but one met
            # item does not meet the group either: nothing about it decides alone.
            need = _unread(heading, "one of items needed several together: one alone neither meets nor fails it")
            return [need for _ in group]
        several = _unread(heading, "one of items that exclude only several together")
        return [n.And(items=(r, several)) for r in group]
    if kind == "inclusion" and w.any.search(heading):
        alone = _unread(heading, "one of a group of alternatives: not met alone does not fail the group")
        return [n.Or(items=(r, alone)) for r in group]
    if kind == "exclusion" and w.all.search(heading):
        together = _unread(heading, "one of items that exclude only together")
        return [n.And(items=(r, together)) for r in group]
    return None


def scope_items(
    kind: str,
    headings: Sequence[str],
    items: Sequence[tuple[str, n.Node]],
    vocab: Vocabulary,
    nested: Sequence[bool] | None = None,
) -> Scoped:
    """The readings of one group of sibling items, each (text, reading), of one kind under the same headings
    (outermost first); ``nested`` says, per heading, whether the items are indented below it (default: no)."""
    w = _words()
    flags = list(nested) if nested is not None else [False] * len(headings)
    out = [rule for _, rule in items]
    for depth, (heading, inside) in enumerate(zip(reversed(headings), reversed(flags), strict=True)):
        if w.exception.search(heading):
            why = f"an exception or allowance under '{_clip(heading)}': check it against the criterion it qualifies"
            return Scoped(tuple(_unread(text, why) for text, _ in items), overrides_previous=True)
        if _negated(kind, heading) and w.several.search(heading):
            # "... has had X excluded ... and has at least three of the following": a negation word and a count
            # in one heading; which governs the items cannot be told, and neither alone decides an item
            why = f"one of items under '{_clip(heading)}', which both counts and negates: read it against the list"
            return Scoped(tuple(_unread(text, why) for text, _ in items))
        if _negated(kind, heading):
            # "Must not have had any of the following within 6 months:": the heading's words describe the
            # items (had them within 6 months) and the negation is outside: not (M and item).
            scope = _scope("exclusion", heading, vocab)
            negated: list[n.Node] = [n.Not(item=scope.apply(r, nested=True)) for r in out]
            out = negated if inside else [_unsure(heading, x, r) for x, r in zip(negated, out, strict=True)]
            continue
        filled = _filled(kind, heading, items, vocab) if depth == 0 else [None] * len(out)
        out = [r if f is None else f for r, f in zip(out, filled, strict=True)]
        combined = _combine(kind, heading, out)
        if combined is not None:
            out = combined
        if combined is None or not (w.examples.search(heading) or (kind == "inclusion" and w.several.search(heading))):
            scope = _scope(kind, heading, vocab)
            out = [r if f is not None else scope.apply(r, inside) for r, f in zip(out, filled, strict=True)]
    return Scoped(tuple(out))


def _filled(kind: str, heading: str, items: Sequence[tuple[str, n.Node]], vocab: Vocabulary) -> list[n.Node | None]:
    """Each item read inside the heading's frame ("History of:" + "glaucoma"), or None where it is not
    (:mod:`eligibility.parse.frames`); a heading with example, count or relaxing words is no frame."""
    from . import parse_criterion  # the package imports this module

    w = _words()
    frame = frame_of(heading)
    if frame is None or w.examples.search(heading) or w.several.search(heading):
        return [None] * len(items)
    if w.relaxing.search(w.universal.sub(" ", heading).replace(" or ", " ")):
        return [None] * len(items)
    return [framed(frame, text, kind, vocab, parse_criterion) for text, _ in items]


def _negated(kind: str, heading: str) -> bool:
    """A negated heading: "Must not have:" over inclusion items, "Patients who have not received:" over
    exclusion items. The intro that made a section an exclusion list ("Patients must not have:") is not a
    negation of its items: it is why they are exclusions."""
    w = _words()
    heading = _GROUP_WITHOUT_RE.sub(" ", heading)  # "for participants without T2D" names a group, negates nothing
    if kind == "inclusion":
        return bool(w.none.search(heading) or w.intro_exclusion.search(heading))
    return bool(w.none.search(heading)) and not w.intro_exclusion.search(heading)


# People "without" a named condition are a group ("Glycaemia-related for participant without T2D" over exclusion
# items: audit seed 18 read its items negated); "Patients without the following:" still negates its items.
_GROUP_WITHOUT_RE = re.compile(
    r"\b(?:participants?|patients?|subjects?|individuals?|persons?|people|those|women|men|children|adults)\s+"
    r"without\s+(?!(?:any\s+of\s+)?the\s+following\b|any\s+of\b|:)\w[\w-]*",
    re.I,
)


def overridden(kind: str, rule: n.Node, heading: str) -> n.Node:
    """The criterion just above a group of exceptions: it can no longer decide against the patient alone."""
    exc = _unread(heading, "exceptions listed below this criterion may apply")
    return n.And(items=(rule, exc)) if kind == "exclusion" else n.Or(items=(rule, exc))
