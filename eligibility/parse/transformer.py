"""Lark parse tree -> rule AST. Builds nodes and nothing else.

Clauses are first collected as :class:`Clause` (core + prefixes + postfixes) so that a list can
be assembled two ways when English leaves the scope of a modifier open ("history of A or B",
"A or B within one year"); see :func:`assemble_seq`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Literal

from lark import Token, Transformer

from .. import nodes as n
from ..concepts import Vocabulary
from .coordination import sep_name
from .lexer import lexicon_data


class NotUnderstood(Exception):
    """A construct the grammar accepted but the reader cannot turn into a sound rule."""

    def __init__(self, reason: str, start: int | None = None, end: int | None = None):
        super().__init__(reason)
        self.reason, self.start, self.end = reason, start, end


@dataclass(frozen=True)
class Mention:
    """A condition, drug or procedure mention before prefixes and postfixes are applied."""

    category: str  # COND | DRUG | PROC ("" for a class the vocabulary does not name)
    concept: str  # "" for a class the vocabulary does not name
    span: tuple[int, int]
    examples: tuple[tuple[str, str], ...] = ()  # (category, concept) of each example that reads
    unnamed: str | None = None  # the words of a class the vocabulary does not name
    unread: tuple[str, ...] = ()  # examples that do not read


@dataclass(frozen=True)
class Post:
    kind: str  # window | duration | consecutive | exception | definition
    value: Any
    span: tuple[int, int]
    restates: bool = False  # a definition said with "i.e." / "namely": the author says it is what the name means


@dataclass(frozen=True)
class Defined:
    """Unknown words followed by a parenthesised definition that reads in full."""

    words: str
    node: n.Node
    span: tuple[int, int]


@dataclass(frozen=True)
class Clause:
    core: Any  # Mention | n.Node
    prefixes: tuple[Token, ...] = ()
    posts: tuple[Post, ...] = ()
    span: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class AllergyList:
    """ "hypersensitivity to A, B or C": the reaction the phrase asks for, the drugs and what joins them."""

    reaction: Literal["allergy", "any"]
    drugs: tuple[tuple[str, tuple[int, int]], ...]
    seps: tuple[str, ...]
    span: tuple[int, int]


@dataclass
class Seq:
    clauses: list[Clause] = field(default_factory=list)
    seps: list[str | None] = field(default_factory=list)  # between clause i and i+1; None = juxtaposed
    span: tuple[int, int] = (0, 0)
    etc: tuple[int, int] | None = None  # "..., etc.": the items are examples of an unnamed class


@dataclass(frozen=True)
class Examples:
    """The examples after "such as" / "e.g." / "including": mentions that read, and unread ones."""

    read: tuple[tuple[str, str], ...]
    unread: tuple[str, ...]
    parenthesised: bool
    span: tuple[int, int]


def _span(items: list[Any]) -> tuple[int, int]:
    starts, ends = [], []
    for item in items:
        if isinstance(item, Token):
            starts.append(item.start_pos or 0)
            ends.append(item.end_pos or 0)
        else:
            span = (
                item.span if isinstance(item, Clause | Post | Mention | Seq | Defined | AllergyList | n.Node) else None
            )
            if span is not None:
                starts.append(span[0])
                ends.append(span[1])
    return (min(starts), max(ends)) if starts else (0, 0)


def _num(tok: Token) -> float:
    return float(tok.value)


TIME_POSTS = ("window", "duration", "consecutive", "before")
# Postfixes at the end of a list that may scope over every item: the time ones and a parenthesised qualifier.
TAIL_POSTS = (*TIME_POSTS, "qual")
_MENTION_TYPES = ("COND", "DRUG", "PROC")
# The nodes of a parenthesis that only names concepts (no measurement, test or threshold).
_MENTION_NODES = (n.Condition, n.Medication, n.Procedure, n.And, n.Or, n.Not, n.Ambiguous)


@cache
def _example_hazards() -> frozenset[str]:
    """Words that, left unread among examples, may qualify the whole class ("unless", "with", "except")."""
    return frozenset(w.lower() for w in lexicon_data()["trailing_modifiers"])


@cache
def _definition_hazards() -> frozenset[str]:
    """Words before a parenthesised definition that make the text mean more than it ("exacerbation of")."""
    return frozenset(w.lower() for w in lexicon_data()["definition_hazards"])


# An unnamed class with more words than this is a clause with requirements of its own, not a class name.
_MAX_CLASS_WORDS = 5
_WORDS_RE = re.compile(r"[a-z]+")


@cache
def _class_qualifiers() -> frozenset[str]:
    """Words that qualify an unnamed class beyond its kind (when, how severe, what status)."""
    return frozenset(w.lower() for w in lexicon_data()["class_qualifiers"])


class ToAst(Transformer[Token, Any]):
    """Transformer from the grammar's tree to :mod:`eligibility.nodes`."""

    def __init__(self, vocabulary: Vocabulary, kind: str):
        super().__init__()
        self.vocab = vocabulary
        self.kind = kind  # inclusion | exclusion | unspecified: "A and B" between mentions differs

    # ---- top level --------------------------------------------------------------------------
    def start(self, items: list[Any]) -> n.Node:
        (item,) = items
        return item if isinstance(item, n.Node) else assemble_seq(item, self)

    def conditional(self, items: list[Any]) -> n.Node:
        clauses = [i for i in items if isinstance(i, Clause)]
        cond = self.clause_node(clauses[0])
        then_clause = clauses[1]
        if isinstance(then_clause.core, n.StableDose) and then_clause.core.concept == "":
            drug = _only_drug(cond)
            if drug is None:
                raise NotUnderstood("'stable' does not say which drug", *then_clause.span)
            then_clause = replace(then_clause, core=then_clause.core.model_copy(update={"concept": drug}))
        then = self.clause_node(then_clause)
        if self.kind == "exclusion":  # "If A, B" excludes those with A and B, never everyone without A
            return n.And(items=(cond, then), span=_span(items))
        return n.Implies(condition=cond, then=then, span=_span(items))

    def seq(self, items: list[Any]) -> Seq:
        out = Seq(span=_span(items))
        pending: str | None = None
        for item in items:
            if isinstance(item, Clause):
                if out.clauses:
                    out.seps.append(pending)
                out.clauses.append(item)
                pending = None
            elif isinstance(item, tuple):
                out.etc = item
            else:
                pending = item
        return out

    def etc(self, items: list[Token]) -> tuple[int, int]:
        tok = items[-1]
        return (tok.start_pos or 0, tok.end_pos or 0)

    def sep(self, items: list[Token]) -> str:
        return sep_name(items[-1])

    # ---- clauses ----------------------------------------------------------------------------
    def clause(self, items: list[Any]) -> Clause:
        prefixes = tuple(i for i in items if isinstance(i, Token))
        posts = tuple(i for i in items if isinstance(i, Post))
        cores = [i for i in items if not isinstance(i, Token | Post)]
        return Clause(core=cores[0], prefixes=prefixes, posts=posts, span=_span(items))

    def prefix(self, items: list[Token]) -> Token:
        return items[0]

    def clause_node(self, clause: Clause) -> n.Node:
        """Apply a clause's prefixes and postfixes to its core."""
        paren_quals = tuple(p.value for p in clause.posts if p.kind == "qual")
        if paren_quals:  # "hepatitis B (active)" reads as "active hepatitis B"
            posts = tuple(p for p in clause.posts if p.kind != "qual")
            clause = replace(clause, prefixes=clause.prefixes + paren_quals, posts=posts)
        core = clause.core
        if isinstance(core, Seq):
            core = assemble_seq(core, self)
        defs = [p for p in clause.posts if p.kind == "definition"]
        if defs:
            if len(defs) > 1 or not isinstance(core, Mention):
                raise NotUnderstood("a parenthesis that is not a definition of a concept", *clause.span)
            node: n.Node = defs[0].value
            named = [x for x in n.walk(node) if isinstance(x, n.Condition | n.Medication | n.Procedure)]
            if (
                not defs[0].restates
                and named
                and all(isinstance(x, _MENTION_NODES) for x in n.walk(node))
                and any(x.concept != core.concept for x in named)
            ):
                # "heart failure (AF)", "liver disease (cirrhosis)": another condition in parentheses is an
                # example, an alternative or a second condition, not what the first one is taken to mean
                raise NotUnderstood("a parenthesis naming another concept is not a definition", *clause.span)
            others = [p for p in clause.posts if p.kind != "definition"]
            if others or any(t.type != "QUAL" for t in clause.prefixes):
                raise NotUnderstood("a definition in parentheses mixed with other modifiers", *clause.span)
            return node
        if isinstance(core, Defined):
            node = core.node
            for neg in [t for t in clause.prefixes if t.type == "NOT"]:
                node = n.Not(item=node, span=(neg.start_pos or 0, clause.span[1]))
            if clause.posts or any(t.type in ("HISTORY", "CURRENT") for t in clause.prefixes):
                raise NotUnderstood("modifiers around a parenthesised definition", *clause.span)
            return node
        if isinstance(core, n.StableDose) and not core.concept:
            raise NotUnderstood("'stable' does not say which drug", *clause.span)
        if not isinstance(core, Mention) and any(t.type == "NOT" and t.value.lower() == "non" for t in clause.prefixes):
            # "non-HDL cholesterol", "non fasting glucose": another quantity, not a negated comparison
            raise NotUnderstood("'non' before a measurement names another quantity", *clause.span)
        if isinstance(core, AllergyList):
            node = self._allergy(core, clause)
        else:
            node = self._mention(core, clause) if isinstance(core, Mention) else self._plain(core, clause)
        quals = [t for t in clause.prefixes if t.type == "QUAL"]
        if quals and not isinstance(core, Mention | AllergyList):
            raise NotUnderstood(f"qualifier '{quals[0].value}' on something that is not a concept", *clause.span)
        for qual in quals:
            node = n.And(
                items=(
                    node,
                    n.Unparsed(
                        text=str(qual),
                        reason=f"the qualifier '{qual}' is not evaluated; a coordinator decides it",
                        span=(qual.start_pos or 0, qual.end_pos or 0),
                    ),
                ),
                span=clause.span,
            )
        for neg in [t for t in clause.prefixes if t.type == "NOT"]:
            node = n.Not(item=node, span=(neg.start_pos or 0, clause.span[1]))
        return node

    def _allergy(self, core: AllergyList, clause: Clause) -> n.Node:
        """ "Known hypersensitivity to A or B": one Allergy node per drug, any of them. "to A and B" may mean
        either drug or both (both readings are kept); a window, a duration or an exception is not read."""
        if clause.posts:
            raise NotUnderstood(f"a {clause.posts[0].kind} after an allergy is not read", *clause.posts[0].span)
        history = any(t.type == "HISTORY" for t in clause.prefixes)
        if history and any(t.type == "CURRENT" for t in clause.prefixes):
            raise NotUnderstood("both 'history of' and 'current'", *clause.span)
        unread = [drug for drug, _ in core.drugs if drug in lexicon_data()["allergy_unread_drugs"]]
        if unread:
            raise NotUnderstood(
                f"an allergy to {self.vocab[unread[0]].display.lower()} is not in the records", *core.span
            )
        timing: Literal["history", "current"] = "history" if history else "current"
        nodes = tuple(
            n.Allergy(concept=drug, reaction=core.reaction, timing=timing, span=span) for drug, span in core.drugs
        )
        if len(nodes) == 1:
            return nodes[0]
        either = n.Or(items=nodes, span=core.span)
        if "AND" not in core.seps:
            return either
        return n.Ambiguous(
            readings=(either, n.And(items=nodes, span=core.span)),
            reason="an allergy 'to A and B' may mean to either drug or to both",
            span=core.span,
        )

    def _plain(self, core: n.Node, clause: Clause) -> n.Node:
        bad = [t for t in clause.prefixes if t.type in ("HISTORY", "CURRENT")]
        if bad:
            raise NotUnderstood(f"'{bad[0]}' before something that is not a condition or treatment", *clause.span)
        for post in clause.posts:
            if post.kind == "window" and isinstance(core, n.Lab | n.LabResult | n.Or | n.And):
                core = _with_lookback(core, round(post.value.days))
            else:
                raise NotUnderstood(f"a {post.kind} cannot apply here", *post.span)
        return core

    def _mention(self, m: Mention, clause: Clause) -> n.Node:
        history = any(t.type == "HISTORY" for t in clause.prefixes) or any(p.kind == "before" for p in clause.posts)
        current = any(t.type == "CURRENT" for t in clause.prefixes)
        if history and current:
            raise NotUnderstood("both 'history of' and 'current'", *clause.span)
        within = duration = consecutive = None
        excluding: tuple[str, ...] = ()
        for post in clause.posts:
            if post.kind == "window":
                within = post.value
            elif post.kind == "duration":
                duration = post.value
            elif post.kind == "consecutive":
                consecutive = post.value
            elif post.kind == "exception":
                excluding = post.value
        timing: Literal["history", "current"] = "history" if history else "current"
        for ex in excluding:
            if self._category(ex) != m.category:
                raise NotUnderstood(f"an exception '{ex}' of another kind than '{m.concept}'", *clause.span)
        examples = [p.value for p in clause.posts if p.kind == "examples"]
        if len(examples) > 1 or (examples and m.unnamed is not None):
            raise NotUnderstood("two lists of examples for one class", *clause.span)
        listed = examples[0].read if examples else m.examples
        unread = examples[0].unread if examples else m.unread
        if not listed and not unread and m.unnamed is None:
            return self._one(m.category, m.concept, clause, timing, within, duration, consecutive, excluding)
        mods = (timing, within, duration, consecutive, excluding)
        return self._exemplified(m, listed, unread, clause, *mods)

    def _exemplified(
        self, m: Mention, listed: tuple[tuple[str, str], ...], unread: tuple[str, ...], clause: Clause, *mods: Any
    ) -> n.Node:
        """A class and its examples: the class decides; an example on record can only make it true.

        Examples are never an "all of these" AND. Each example takes the clause's modifiers
        ("history of", "within 6 months") but not its exception. A class the vocabulary does not name
        stays unread beside its examples, so absence of every example is unknown, never "no"; so does
        an example the vocabulary does not read (the author counts it in the class, the class's codes
        may not: "chemotherapy including cetuximab").
        """
        timing, within, duration, consecutive, excluding = mods
        covered = {*self.vocab.leaves(m.concept), m.concept} if m.concept else set()
        nodes: list[n.Node] = []
        if m.unnamed is not None:
            if excluding:
                raise NotUnderstood("an exception on a class the vocabulary does not name", *clause.span)
            if len(m.unnamed.split()) > _MAX_CLASS_WORDS:
                # "Those who visited the clinic with complaints of symptoms such as fatigue": the example is
                # one of the symptoms, and the rest of the clause is still required, so it decides nothing.
                raise NotUnderstood("the words before the examples say more than the name of a class", *clause.span)
            if set(_WORDS_RE.findall(m.unnamed.lower())) & _class_qualifiers():
                # "newly diagnosed diseases including AML": a relapsed AML is one of the examples but not of the
                # class, whose qualifier the examples do not carry (audit seed 18)
                raise NotUnderstood("a qualified class the vocabulary does not name: its examples do not prove it",
                                    *clause.span)  # fmt: skip
            why = "a class the vocabulary does not name; only its listed examples are read"
            nodes.append(n.Unparsed(text=m.unnamed, reason=why, span=m.span))
        else:
            nodes.append(self._one(m.category, m.concept, clause, timing, within, duration, consecutive, excluding))
        for category, concept in dict.fromkeys(listed):
            if concept not in covered and not (m.concept and self.vocab.inside(concept, m.concept)):
                nodes.append(self._one(category, concept, clause, timing, within, duration, consecutive, ()))
        if m.unnamed is not None and len(nodes) == 1:
            raise NotUnderstood("a class the vocabulary does not name, with no example it knows", *clause.span)
        if unread and m.unnamed is None:
            why = "examples the vocabulary does not read; the class may not cover them"
            nodes.append(n.Unparsed(text=", ".join(unread), reason=why, span=clause.span))
        if len(nodes) == 1:
            return nodes[0]
        return n.Or(items=tuple(nodes), span=clause.span)

    def _one(
        self,
        category: str,
        concept: str,
        clause: Clause,
        timing: Literal["history", "current"],
        within: n.Duration | None,
        duration: n.Bound | None,
        consecutive: n.Bound | None,
        excluding: tuple[str, ...],
    ) -> n.Node:
        """One condition, drug or procedure with the clause's modifiers."""
        current = any(t.type == "CURRENT" for t in clause.prefixes)
        if category == "COND":
            if consecutive is not None:
                raise NotUnderstood("'consecutive days' on a condition", *clause.span)
            cond = n.Condition(
                concept=concept,
                timing=timing,
                within=within,
                duration=duration,
                excluding=excluding,
                span=clause.span,
            )
            if self._tense_open(concept, clause, timing, within, duration, current):
                # "Patients with malignancy" as an exclusion: a cancer treated years ago may or may not
                # count. Only a patient for whom both readings agree is decided.
                history = cond.model_copy(update={"timing": "history"})
                return n.Ambiguous(
                    readings=(cond, history),
                    reason="an exclusion naming a condition without 'current', 'active' or 'history of' may "
                    "mean the condition now or any history of it",
                    span=clause.span,
                )
            return cond
        if category == "DRUG":
            if duration is not None:
                if consecutive is not None:
                    raise NotUnderstood("two durations for one drug", *clause.span)
                consecutive = n.Bound(op=duration.op, duration=duration.duration)
            return n.Medication(
                concept=concept,
                timing=timing,
                within=within,
                consecutive_days=consecutive,
                excluding=excluding,
                span=clause.span,
            )
        ongoing = self.vocab[concept].ongoing_days
        if duration is not None or consecutive is not None or (current and ongoing is None):
            raise NotUnderstood("a duration or 'current' on a procedure", *clause.span)
        if ongoing is not None and timing == "current" and within is None:
            # "on dialysis", "requiring haemodialysis": a continuing therapy now, not one session ever
            within = n.Duration(amount=ongoing, unit="days")
        return n.Procedure(concept=concept, within=within, excluding=excluding, span=clause.span)

    def _tense_open(
        self,
        concept: str,
        clause: Clause,
        timing: str,
        within: n.Duration | None,
        duration: n.Bound | None,
        current: bool,
    ) -> bool:
        """Whether an exclusion's bare condition leaves open "has it now" against "has ever had it".

        Only for concepts whose data says so (``bare_exclusion: either``: a malignancy treated years ago
        may or may not be meant); inclusions name the condition being enrolled ("patients with X": they
        have it now); a window, a duration, a tense word or a qualifier of the present state ("active",
        "uncontrolled") settles it.
        """
        if self.kind != "exclusion" or timing != "current" or current or within is not None or duration is not None:
            return False
        if any(t.type == "QUAL" for t in clause.prefixes):  # "active", "uncontrolled": a state now
            return False
        return self.vocab[concept].bare_exclusion == "either"

    def _category(self, concept: str) -> str:
        category = self.vocab[concept].category
        return {"condition": "COND", "finding": "COND", "medication": "DRUG", "procedure": "PROC"}.get(category, "")

    # ---- cores ------------------------------------------------------------------------------
    def group(self, items: list[Any]) -> n.Node:
        inner = items[1]
        return inner if isinstance(inner, n.Node) else assemble_seq(inner, self)

    def review(self, items: list[Token]) -> n.Node:
        tok = items[0]
        return n.Unparsed(
            text=str(tok), reason="marked for review in the rule file", span=(tok.start_pos or 0, tok.end_pos or 0)
        )

    def measure(self, items: list[Any]) -> n.Node:
        name, th = items
        return n.Measurement(
            name=str(name),
            op=th["op"],
            value=th["value"],
            value2=th.get("value2"),
            unit=th.get("unit"),
            relative=th.get("relative"),
            span=_span([name, th["t1"]]),
        )

    def defined(self, items: list[Any]) -> Defined:
        words = " ".join(str(t) for t in items if isinstance(t, Token) and t.type == "WORD")
        hazard = next((w for w in words.lower().split() if w in _definition_hazards()), None)
        if hazard is not None:
            raise NotUnderstood(f"'{hazard}' says more than the definition in parentheses", *_span(items))
        seq = next(i for i in items if isinstance(i, Seq))
        return Defined(words, assemble_seq(seq, self), _span(items))

    def cond(self, items: list[Token]) -> Mention:
        return Mention("COND", str(items[0]), _span(items))

    def proc(self, items: list[Token]) -> Mention:
        return Mention("PROC", str(items[0]), _span(items))

    def allergy(self, items: list[Any]) -> AllergyList:
        head, drugs = items[0], [t for t in items[1:] if isinstance(t, Token) and t.type == "DRUG"]
        seps = tuple(str(i) for i in items[1:] if isinstance(i, str) and not isinstance(i, Token))
        return AllergyList(
            reaction="any" if head.value == "any" else "allergy",
            drugs=tuple((str(t), (t.start_pos or 0, t.end_pos or 0)) for t in drugs),
            seps=seps,
            span=_span(items),
        )

    def asep(self, items: list[Token]) -> str:
        return "AND" if any(t.type == "AND" for t in items) else items[-1].type

    def drug(self, items: list[Token]) -> Mention:
        return Mention("DRUG", str(items[0]), _span(items))

    def example(self, items: list[Token]) -> tuple[str, str] | str:
        """One example: a lone mention reads; anything else is kept as its words, unread."""
        if len(items) == 1 and items[0].type in ("COND", "DRUG", "PROC"):
            return (items[0].type, str(items[0]))
        return " ".join(t.value for t in items)

    def examples(self, items: list[Any]) -> Post:
        parenthesised = isinstance(items[0], Token) and items[0].type == "LPAR"
        read = tuple(i for i in items if isinstance(i, tuple) and len(i) == 2 and i[0] in _MENTION_TYPES)
        unread = tuple(i for i in items if isinstance(i, str) and not isinstance(i, Token))
        span = _span([i for i in items if isinstance(i, Token)])
        hazards = _example_hazards()
        for words in unread:
            low = words.lower().split()
            if any(w in hazards for w in low) or (not parenthesised and any(w.endswith("ing") for w in low)):
                raise NotUnderstood(f"words among the examples that may qualify the whole: '{words}'", *span)
        if not parenthesised and _may_end_examples(items):
            raise NotUnderstood("'and' after examples may add another item rather than an example", *span)
        return Post("examples", Examples(read, unread, parenthesised, span), span)

    def exemplified(self, items: list[Any]) -> Mention:
        words = " ".join(str(t) for t in items if isinstance(t, Token) and t.type == "WORD")
        post: Post = next(i for i in items if isinstance(i, Post))
        value: Examples = post.value
        tokens = [t for t in items if isinstance(t, Token)]
        return Mention("", "", _span([*tokens, post]), value.read, words, value.unread)

    def lab_cmp(self, items: list[Any]) -> n.Node:
        if len(items) == 4:  # "SBP >= 140 or < 100 mmHg": two thresholds on one measure, either one
            tokens, th, _, th2 = items
            if th.get("unit") is None and th.get("relative") is None:
                th = {**th, "unit": th2.get("unit")}
            if th2.get("unit") is None and th2.get("relative") is None:
                th2 = {**th2, "unit": th.get("unit")}
            first, second = self.lab_cmp([tokens, th]), self.lab_cmp([tokens, th2])
            return n.Or(items=(first, second), span=_span([*tokens, th2["t1"]]))
        tokens, th = items
        labs = [t for t in tokens if t.type == "LAB"]
        th = {**th, "list_and": any(t.type == "AND" for t in tokens)}
        if th.get("unit") is None and th.get("relative") is None:
            unitless = [t for t in labs if self.vocab[str(t)].unit is not None]
            if unitless:  # units are checked, not assumed: "potassium > 5.5" could be mmol/L or mg/dL
                raise NotUnderstood(f"the threshold for {unitless[0]} states no unit", *_span([*labs, th["t1"]]))
        span = _span([*labs, *[t for t in th.values() if isinstance(t, Token)]])
        leaves: list[n.Node] = []
        for lab in labs:
            for concept in self._expand_lab(str(lab)):
                leaves.append(
                    n.Lab(
                        concept=concept,
                        op=th["op"],
                        value=th["value"],
                        value2=th.get("value2"),
                        unit=th.get("unit"),
                        relative=th.get("relative"),
                        span=span,
                    )
                )
        if len(leaves) == 1:
            return leaves[0]
        if len(labs) == 1:  # a group such as "transaminases"
            return _group_reading(tuple(leaves), th, span)
        if self.kind == "rule":  # the rule language says which: "ALT or AST", "ALT and AST"
            conj = n.And if th.get("list_and") else n.Or
            return conj(items=tuple(leaves), span=span)
        # Where the list's conjunction and the threshold's direction agree, one reading: "ALT and AST
        # <= 2.5 x ULN" (each keeps the bound), "ALT or AST > 3 x ULN" (any passes it). Otherwise
        # ("ALT and AST > 3 x ULN": both, or either?) both readings are kept and must agree.
        seps = {t.type for t in tokens if t.type != "LAB"}
        grouped = _group_reading(tuple(leaves), th, span)
        if isinstance(grouped, n.And) and seps <= {"AND", "SLASH", "COMMA"}:
            return grouped
        if isinstance(grouped, n.Or) and seps <= {"OR"}:
            return grouped
        return n.Ambiguous(
            readings=(n.And(items=tuple(leaves), span=span), n.Or(items=tuple(leaves), span=span)),
            reason="a shared threshold over several labs may mean each or any",
            span=span,
        )

    def _expand_lab(self, concept: str) -> list[str]:
        members = self.vocab[concept].members
        return [m for m in self.vocab.leaves(concept) if not self.vocab[m].members] if members else [concept]

    def labs(self, items: list[Token]) -> list[Token]:
        return list(items)

    def quantity(self, items: list[Token]) -> dict[str, Any]:
        out: dict[str, Any] = {"value": _num(items[0]), "tok": items[0]}
        if len(items) > 1:
            out["unit"] = str(items[1])
        return out

    def th_cmp(self, items: list[Any]) -> dict[str, Any]:
        cmp, qty = items
        return {"op": str(cmp), "value": qty["value"], "unit": qty.get("unit"), "t0": cmp, "t1": qty["tok"]}

    def th_rel(self, items: list[Any]) -> dict[str, Any]:
        cmp, number = items[0], items[1]
        limit = items[-1]
        return {"op": str(cmp), "value": _num(number), "relative": limit.type, "t0": cmp, "t1": limit}

    def th_limit(self, items: list[Token]) -> dict[str, Any]:
        cmp, limit = items
        return {"op": str(cmp), "value": 1.0, "relative": limit.type, "t0": cmp, "t1": limit}

    def th_range(self, items: list[Any]) -> dict[str, Any]:
        q = [i for i in items if isinstance(i, dict)]
        lo, hi = q
        unit = hi.get("unit") or lo.get("unit")
        if lo.get("unit") and hi.get("unit") and lo["unit"] != hi["unit"]:
            raise NotUnderstood("a range with two different units", lo["tok"].start_pos, hi["tok"].end_pos)
        if lo["value"] > hi["value"]:
            raise NotUnderstood(
                "a range whose lower end is above its upper end", lo["tok"].start_pos, hi["tok"].end_pos
            )
        return {
            "op": "between",
            "value": lo["value"],
            "value2": hi["value"],
            "unit": unit,
            "t0": lo["tok"],
            "t1": hi["tok"],
        }

    def th_either(self, items: list[Token]) -> dict[str, Any]:
        """ "ECOG 0 or 1", "NYHA class III or IV": two neighbouring whole scores are the range between them."""
        lo, _, hi = items
        a, b = _num(lo), _num(hi)
        if not (a.is_integer() and b == a + 1):
            raise NotUnderstood("two values that are not neighbouring whole scores", lo.start_pos, hi.end_pos)
        return {"op": "between", "value": a, "value2": b, "unit": None, "t0": lo, "t1": hi}

    def th_normal(self, items: list[Token]) -> dict[str, Any]:
        raise NotUnderstood("'within normal limits' needs both reference limits", items[0].start_pos, items[0].end_pos)

    def qlab(self, items: list[Any]) -> n.Node:
        labs = [t for t in items if isinstance(t, Token) and t.type == "QLAB"]
        result = items[-1]
        span = _span([*labs, result])
        leaves = tuple(n.LabResult(concept=str(t), result=result.value, span=span) for t in labs)
        if len(leaves) == 1:
            return leaves[0]
        if self.kind == "rule":
            conj = n.And if any(isinstance(t, Token) and t.type == "AND" for t in items) else n.Or
            return conj(items=leaves, span=span)
        return n.Ambiguous(
            readings=(n.And(items=leaves, span=span), n.Or(items=leaves, span=span)),
            reason="a shared result over several tests may mean each or any",
            span=span,
        )

    def qlab_pre(self, items: list[Token]) -> n.Node:
        """ "a negative pregnancy test": the result written before the test."""
        result, lab = items
        return n.LabResult(concept=str(lab), result=result.value, span=_span([result, lab]))

    def cond_result(self, items: list[Token]) -> n.Node:
        """'HIV positive': the condition on record, or a positive result of a test that shows it."""
        cond, result = items
        tests = self.vocab[str(cond)].tests
        span = _span(items)
        if not tests:
            raise NotUnderstood(f"no test is known to show '{cond}' {result.value}", *span)
        condition = n.Condition(concept=str(cond), span=span)
        results = tuple(n.LabResult(concept=t, result=result.value, span=span) for t in tests)
        if result.value == "positive":
            return n.Or(items=(condition, *results), span=span)
        return n.And(items=(n.Not(item=condition, span=span), *results), span=span)

    def result(self, items: list[Token]) -> Token:
        tok = items[0]
        return Token(
            tok.type, "positive" if tok.type == "POSITIVE" else "negative", start_pos=tok.start_pos, end_pos=tok.end_pos
        )

    def sexes(self, items: list[Token]) -> n.Node:
        sexes = tuple(dict.fromkeys(str(t) for t in items if t.type == "SEXW"))
        return n.Sex(sexes=sexes, span=_span(items))

    # ---- age --------------------------------------------------------------------------------
    def age(self, items: list[Any]) -> n.Node:
        node: n.Age = items[-1]
        return node.model_copy(update={"span": _span([items[0], node])})

    def _age(self, items: list[Any], op: str, values: list[float]) -> n.Age:
        units = {str(t) for t in items if isinstance(t, Token) and t.type == "TIMEUNIT"}
        if len(units) > 1 or (units and units - {"years", "months"}):
            raise NotUnderstood("an age in a unit other than years or months", *_span(items))
        unit = units.pop() if units else "years"
        return n.Age(
            op=op,
            value=values[0],
            value2=values[1] if len(values) > 1 else None,
            unit=unit,
            span=_span(items),
        )

    def _numbers(self, items: list[Any]) -> list[float]:
        return [_num(t) for t in items if isinstance(t, Token) and t.type == "NUMBER"]

    def age_cmp(self, items: list[Any]) -> n.Age:
        return self._age(items, str(items[0]), self._numbers(items))

    def age_or(self, items: list[Any]) -> n.Node:
        """ "age < 18 or > 65 years": two bounds, either one."""
        return n.Or(items=self._two_age_bounds(items), span=_span(items))

    def age_and(self, items: list[Any]) -> n.Node:
        """ "age >= 18 and <= 65": both bounds (parse/sexgroups.py turns bounds no age meets together into either)."""
        return n.And(items=self._two_age_bounds(items), span=_span(items))

    @staticmethod
    def _two_age_bounds(items: list[Any]) -> tuple[n.Age, n.Age]:
        """The two bounds of "AGE bound THOR/THAND bound"; their units must agree: "age < 6 or > 24 months" would
        read its first bound in years, so it is not read."""
        first, second = items[1], items[3]
        if first.unit != second.unit:
            raise NotUnderstood("two age bounds in different units", *_span(items))
        return first, second

    def age_between(self, items: list[Any]) -> n.Age:
        values = self._numbers(items)
        if values[0] > values[1]:
            raise NotUnderstood("an age range whose lower end is above its upper end", *_span(items))
        return self._age(items, "between", values)

    def age_older_tail(self, items: list[Any]) -> n.Age:
        return self._age(items, ">=", self._numbers(items))

    def age_younger_tail(self, items: list[Any]) -> n.Age:
        return self._age(items, "<=", self._numbers(items))

    age_older = age_older_tail
    age_younger = age_younger_tail

    # ---- postfixes --------------------------------------------------------------------------
    def amount(self, items: list[Token]) -> n.Duration:
        return n.Duration(amount=_num(items[0]), unit=str(items[1]))

    def window(self, items: list[Any]) -> Post:
        amount = next(i for i in items if isinstance(i, n.Duration))
        return Post("window", amount, _span(items))

    def duration(self, items: list[Any]) -> Post:
        cmp = next((t for t in items if isinstance(t, Token) and t.type == "CMP"), None)
        amount = next(i for i in items if isinstance(i, n.Duration))
        op = str(cmp) if cmp is not None else ">="
        return Post("duration", n.Bound(op=op, duration=amount), _span(items))

    def consecutive(self, items: list[Token]) -> Post:
        cmp = next((t for t in items if t.type == "CMP"), None)
        number = next(t for t in items if t.type == "NUMBER")
        op = str(cmp) if cmp is not None else ">="
        bound = n.Bound(op=op, duration=n.Duration(amount=_num(number), unit="days"))
        return Post("consecutive", bound, _span(items))

    def exception(self, items: list[Any]) -> Post:
        if any(t.type in ("QUAL", "NOT", "HISTORY", "CURRENT") for t in items if isinstance(t, Token)):
            raise NotUnderstood("a qualified exception ('other than chronic X') is not evaluated", *_span(items))
        concepts = tuple(str(t) for t in items if isinstance(t, Token) and t.type in ("COND", "DRUG", "PROC"))
        return Post("exception", concepts, _span(items))

    def definition(self, items: list[Any]) -> Post:
        seq = next(i for i in items if isinstance(i, Seq))
        restates = any(isinstance(i, Token) and i.type == "IE" for i in items)
        return Post("definition", assemble_seq(seq, self), _span(items), restates)

    def postfix(self, items: list[Any]) -> Post:
        return next(i for i in items if isinstance(i, Post))

    def before_anchor(self, items: list[Token]) -> Post:
        """ "prior to enrolment" with no window: at any time before it, which is all a record holds."""
        return Post("before", None, _span(items))

    def qual_post(self, items: list[Token]) -> Post:
        """A QUALPOST token (parse/parenqual.py) as the QUAL token it holds."""
        tok = items[0]
        qual = Token("QUAL", str(tok), start_pos=tok.start_pos, end_pos=tok.end_pos)
        return Post("qual", qual, _span(items))

    def stable(self, items: list[Any]) -> Clause:
        drug = next((t for t in items if isinstance(t, Token) and t.type == "DRUG"), None)
        span_ = next(i for i in items if isinstance(i, n.Duration))
        return n.StableDose(concept=str(drug) if drug else "", duration=span_, span=_span(items))  # type: ignore[return-value]

    def stable_for(self, items: list[Any]) -> n.Duration:
        return next(i for i in items if isinstance(i, n.Duration))

    def stable_span(self, items: list[Any]) -> n.Duration:
        cmp = next((t for t in items if isinstance(t, Token) and t.type == "CMP"), None)
        if cmp is not None and str(cmp) not in (">=", ">"):
            raise NotUnderstood("'stable' for less than a duration", cmp.start_pos, cmp.end_pos)
        return next(i for i in items if isinstance(i, n.Duration))


def _group_reading(leaves: tuple[n.Node, ...], th: dict[str, Any], span: tuple[int, int]) -> n.Node:
    """A threshold on a group of labs ("transaminases > 3 x ULN") reads the group as its most extreme member.

    An upper bound holds for the group when every member keeps it ("transaminases <= 2.5 x ULN": AND); a
    lower bound when any member passes it ("transaminases > 3 x ULN": OR). Against the LLN the extreme
    member is the lowest, so the roles swap. A range has no single extreme member and keeps both readings.
    """
    op, relative = th["op"], th.get("relative")
    if op in ("<", "<=", ">", ">="):
        upper = op in ("<", "<=")
        every = upper if relative != "LLN" else not upper
        return (n.And if every else n.Or)(items=leaves, span=span)
    return n.Ambiguous(
        readings=(n.And(items=leaves, span=span), n.Or(items=leaves, span=span)),
        reason="a range over a group of labs may mean each member or any member",
        span=span,
    )


def _with_lookback(node: n.Node, days: int) -> n.Node:
    if isinstance(node, n.Lab | n.LabResult):
        return node.model_copy(update={"lookback_days": days})
    if isinstance(node, n.And | n.Or):
        return node.model_copy(update={"items": tuple(_with_lookback(i, days) for i in node.items)})
    return node


def _only_drug(node: n.Node) -> str | None:
    if isinstance(node, n.Medication):
        return node.concept
    return None


# ---- lists ---------------------------------------------------------------------------------
def _is_listed_noun(node: n.Node) -> bool:
    """A bare mention (maybe qualified, maybe unread): "A and B" between these may mean either.

    Comparisons, test results, negations and parenthesised groups make "and" a plain conjunction.
    """
    if isinstance(node, n.Condition | n.Medication | n.Procedure | n.Unparsed):
        return True
    if isinstance(node, n.Ambiguous):  # a mention read two ways ("drug abuse": now or ever) is still a mention
        return all(_is_listed_noun(r) for r in node.readings)
    if isinstance(node, n.Or) and node.span is not None and all(i.span == node.span for i in node.items):
        # one mention read as several concepts: a class with its examples, "HIV positive" (the
        # condition or its test); a parenthesised "(A or B)" keeps its own items' spans
        return all(_is_listed_noun(i) or isinstance(i, n.LabResult) for i in node.items)
    # "women with diabetes" (and other metabolic disease): a mention said of a group is still a mention
    return (
        isinstance(node, n.And)
        and all(_is_listed_noun(i) or _is_who(i) for i in node.items)
        and any(_is_listed_noun(i) for i in node.items)
    )


def _may_end_examples(items: list[Any]) -> bool:
    """Without parentheses, ", and X" or "and <unread words>" may end the examples and add an item:
    "heart disease such as heart failure, and diabetes" may require diabetes too."""
    for k, item in enumerate(items):
        if isinstance(item, Token) and item.type == "AND":
            after = items[k + 1] if k + 1 < len(items) else None
            comma = k > 0 and isinstance(items[k - 1], Token) and items[k - 1].type == "COMMA"
            if comma or not isinstance(after, tuple):
                return True
    return False


def _is_who(node: n.Node) -> bool:
    """Sex and age say who the list is about ("pregnant or breastfeeding women"), not one more item."""
    return isinstance(node, n.Sex | n.Age)


def _all_thresholds(node: n.Node | None) -> bool:
    return node is not None and all(isinstance(x, n.Lab) for x in n.walk(node) if not n.children(x))


def _resolve_seps(seq: Seq, kind: str = "unspecified") -> list[str]:
    """Commas take the meaning of the next conjunction (else the previous one); juxtaposition is AND.

    Thresholds separated by semicolons alone ("LDL > 130 mg/dL; triglycerides > 150 mg/dL") are
    separate requirements of the item: each must hold in an inclusion, any one excludes.
    """
    if (
        kind in ("inclusion", "exclusion")
        and seq.seps
        and all(s == "SEMI" for s in seq.seps)
        and all(_all_thresholds(getattr(c, "core", None)) and not getattr(c, "posts", None) for c in seq.clauses)
    ):
        return ["AND" if kind == "inclusion" else "OR"] * len(seq.seps)
    seps: list[str] = []
    for i, sep in enumerate(seq.seps):
        if sep in ("COMMA", "SEMI"):
            later = [s for s in seq.seps[i + 1 :] if s not in ("COMMA", "SEMI", "SLASHED", None)]
            earlier = [s for s in seq.seps[:i] if s not in ("COMMA", "SEMI", "SLASHED", None)]
            a, b = (getattr(c, "core", None) for c in seq.clauses[i : i + 2])
            if later:
                sep = later[0]
            elif earlier:
                sep = earlier[-1]
            elif isinstance(a, n.Sex | n.Age) or isinstance(b, n.Sex | n.Age):
                sep = "AND"  # "aged 18 or older, male or female": who, then how old, not a list
            else:
                raise NotUnderstood("a list with no 'and' or 'or' to say how its items combine", *seq.span)
        if sep is None:
            a, b = seq.clauses[i].core, seq.clauses[i + 1].core
            # "heart failure NYHA class III or IV": a condition and the grade it must have, both required
            graded = isinstance(a, Mention) and a.category == "COND" and bool(a.concept) and isinstance(b, n.Lab)
            if not (isinstance(a, n.Sex | n.Age) or isinstance(b, n.Sex | n.Age) or graded):
                raise NotUnderstood("two clauses side by side without a conjunction", *seq.span)
            sep = "AND"
        seps.append("OR" if sep == "ANDOR" else sep)
    return seps


def _combine(nodes_: list[n.Node], seps: list[str], reader: ToAst, span: tuple[int, int]) -> n.Node:
    """AND binds tighter than OR; "A and B" between bare mentions of an exclusion is ambiguous."""
    groups: list[list[n.Node]] = [[nodes_[0]]]
    slashed: list[bool] = [False]
    for node, sep in zip(nodes_[1:], seps, strict=True):
        if sep == "OR":
            groups.append([node])
            slashed.append(False)
        else:
            groups[-1].append(node)
            slashed[-1] = slashed[-1] or sep == "SLASHED"
    ors: list[n.Node] = []
    for group, slash in zip(groups, slashed, strict=True):
        if len(group) == 1:
            ors.append(group[0])
            continue
        conj = n.And(items=tuple(group), span=_span(group))
        nouns = [g for g in group if not _is_who(g)]
        # in an inclusion, "A, B and C" of three or more conditions is as often a list of the eligible diagnoses
        # ("relapsed AML, MPAL and AUL", audit of f300533) as a requirement of all of them; "A/B" is either in
        # any kind of criterion ("CLL/SLL"), so both readings are kept whatever the kind
        listed = len(nouns) > 1 if reader.kind == "exclusion" or slash else len(nouns) > 2
        if (reader.kind in ("exclusion", "inclusion") or slash) and listed and all(_is_listed_noun(g) for g in nouns):
            both = n.Ambiguous(
                readings=(n.And(items=tuple(nouns), span=_span(nouns)), n.Or(items=tuple(nouns), span=_span(nouns))),
                span=_span(nouns),
                reason=("a slash between listed conditions may mean each or any of them" if slash
                        else "'and' between listed conditions may mean each or any of them"),
            )
            who = [g for g in group if _is_who(g)]
            ors.append(n.And(items=(both, *who), span=_span(group)) if who else both)
        else:
            ors.append(conj)
    return ors[0] if len(ors) == 1 else n.Or(items=tuple(ors), span=span)


def _is_mention(c: Clause) -> bool:
    return isinstance(c.core, Mention) and not any(p.kind == "definition" for p in c.posts)


def assemble_seq(seq: Seq, reader: ToAst) -> n.Node:
    """Build a list's rule; where a first prefix or a last postfix may scope over the whole list,
    build the wide reading too and keep both (:class:`nodes.Ambiguous`) when they differ."""
    seq = _merge_sexes(seq)
    if seq.etc is not None:
        return _with_etc(seq, reader)
    if len(seq.clauses) == 1:
        return reader.clause_node(seq.clauses[0])
    seps = _resolve_seps(seq, reader.kind)
    narrow = _combine([reader.clause_node(c) for c in seq.clauses], seps, reader, seq.span)
    wide = None if reader.kind == "rule" else _wide_reading(seq, seps, reader)
    if wide is None or n.strip_spans(wide) == n.strip_spans(narrow):
        return narrow
    return n.Ambiguous(
        readings=(wide, narrow), span=seq.span, reason="a modifier at one end of the list may apply to every item"
    )


def etc_item(span: tuple[int, int]) -> n.Unparsed:
    return n.Unparsed(text="etc.", reason="the list gives examples of a class it does not name", span=span)


def _with_etc(seq: Seq, reader: ToAst) -> n.Node:
    """ "A, B, etc." / "A, B and others": examples of an unnamed class, so any of them makes it true and
    none of them leaves it unknown, whatever word joins them (never an "all of these")."""
    if reader.kind == "rule":
        raise NotUnderstood("'etc.' in a rule file", *seq.span)
    if any(_is_who(c.core) for c in seq.clauses):
        raise NotUnderstood("'etc.' after a list that says who", *seq.span)
    plain = Seq(clauses=seq.clauses, seps=["OR"] * (len(seq.clauses) - 1), span=seq.span)
    rest = etc_item(seq.etc or seq.span)
    inner = assemble_seq(plain, reader)
    items = inner.items if isinstance(inner, n.Or) else (inner,)
    return n.Or(items=(*items, rest), span=seq.span)


def _merge_sexes(seq: Seq) -> Seq:
    """'Men and women', 'male or female': a run of sexes is one Sex node whatever joins them."""
    out = Seq(span=seq.span, etc=seq.etc)
    for i, clause in enumerate(seq.clauses):
        prev = out.clauses[-1] if out.clauses else None
        joined = seq.seps[i - 1] if i > 0 else None
        if (
            prev is not None
            and isinstance(prev.core, n.Sex)
            and isinstance(clause.core, n.Sex)
            and not prev.prefixes
            and not clause.prefixes
            and joined in ("AND", "OR", "ANDOR", "COMMA")
        ):
            sexes = tuple(dict.fromkeys((*prev.core.sexes, *clause.core.sexes)))
            span = (prev.span[0], clause.span[1])
            out.clauses[-1] = replace(prev, core=n.Sex(sexes=sexes, span=span), span=span)
            continue
        if out.clauses:
            out.seps.append(seq.seps[i - 1])
        out.clauses.append(clause)
    return out


def _wide_reading(seq: Seq, seps: list[str], reader: ToAst) -> n.Node | None:
    first, last = seq.clauses[0], seq.clauses[-1]
    lead = tuple(t for t in first.prefixes if t.type != "NOT") if _is_mention(first) else ()
    negated = _is_mention(first) and any(t.type == "NOT" for t in first.prefixes)
    tail = tuple(p for p in last.posts if p.kind in TAIL_POSTS) if _is_mention(last) else ()
    if not (lead or tail or negated):
        return None
    clauses = []
    for i, c in enumerate(seq.clauses):
        if _is_mention(c):
            prefixes = tuple(t for t in c.prefixes if t.type != "NOT") if i == 0 else c.prefixes
            if i > 0 and not c.prefixes:
                prefixes = lead
            posts = c.posts
            if i < len(seq.clauses) - 1 and not any(p.kind in TAIL_POSTS for p in c.posts):
                posts = c.posts + tuple(p for p in tail if _applies(p, c))
            c = replace(c, prefixes=prefixes, posts=posts)
        clauses.append(c)
    node = _combine([reader.clause_node(c) for c in clauses], seps, reader, seq.span)
    return n.Not(item=node, span=seq.span) if negated else node


def _applies(post: Post, clause: Clause) -> bool:
    category = clause.core.category
    if post.kind == "consecutive":
        return bool(category == "DRUG")
    if post.kind == "duration":
        return bool(category in ("COND", "DRUG"))
    return True
