"""Criterion text -> rule AST.

``parse_criterion`` never raises on text: what the grammar cannot read in full becomes
:class:`~eligibility.nodes.Unparsed`, or a partial reading where Kleene logic keeps it sound (an
OR list whose readable items can still decide it). ``read_criterion`` is the strict form used for
rule files, where a reviewer wrote the rule and an unreadable rule is an error to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from lark import Lark, Token
from lark.exceptions import LarkError, UnexpectedInput, VisitError
from lark.lexer import Lexer

from .. import nodes as n
from ..concepts import Vocabulary, default_vocabulary
from ..errors import ParseError
from ..io.criteria_text import has_inline_list
from .borderline import widened
from .complements import complemented
from .coordination import sep_name
from .grouplabel import group_label
from .lexer import lexicon_data, tokenize
from .lookbacks import default_lookbacks
from .open_exceptions import open_exceptions
from .parenqual import join_paren_qualifiers
from .plausible import first_implausibility, implausible_as_unparsed
from .polarity import exclusion_polarity
from .scope import age_boundaries, continues_label, person_suspects, population_reading, population_rule
from .sexgroups import disjoint_ages, per_sex_groups
from .timedlist import timed_list
from .transformer import NotUnderstood, Seq, ToAst, _combine, _resolve_seps, etc_item
from .wordforms import rewrite_forms, scale_subject

__all__ = ["grammar_text", "parse_criterion", "population_rule", "read_criterion", "tokenize"]


def grammar_text() -> str:
    """The grammar, from the installed package or, in a source checkout, from ``grammars/``."""
    packaged = resources.files("eligibility").joinpath("grammars/criteria.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[2] / "grammars" / "criteria.lark").read_text(encoding="utf-8")


class _TokenStream(Lexer):
    """Lark "lexer" that passes through tokens made by :func:`tokenize`."""

    def __init__(self, lexer_conf: Any):
        pass

    def lex(self, data: Any) -> Iterator[Token]:  # type: ignore[override]
        yield from data


_LARK_OPTIONS: dict[str, Any] = {"parser": "lalr", "lexer": _TokenStream, "propagate_positions": False}


def build_parser(grammar: str) -> Lark:
    """The LALR parser of ``grammar``, built (about 0.3 s) or read back from the start-up cache.

    The cache key is the grammar text, the options, Lark's and Python's versions: an edited grammar or
    another Lark never reuses a table (:mod:`eligibility.usercache`). Lark's own ``save``/``load`` keep it.
    """
    import lark

    from ..usercache import cached_pickle, digest

    key = digest("lark", lark.__version__, repr(sorted((k, repr(v)) for k, v in _LARK_OPTIONS.items())), grammar)
    return cached_pickle("grammar", key, lambda: Lark(grammar, **_LARK_OPTIONS), lambda p, fh: p.save(fh), Lark.load)


@cache
def _parser() -> Lark:
    return build_parser(grammar_text())


_SEPARATORS = {"COMMA", "SEMI", "AND", "OR", "ANDOR"}
_SCOPING_PREFIX = {"HISTORY", "CURRENT", "QUAL", "NOT"}
_TIME_TOKENS = {"WITHIN", "FOR", "CONSEC", "DURATION"}
_MENTIONS = {"COND", "DRUG", "PROC"}


def _trim(tokens: list[Token]) -> list[Token]:
    """Drop list punctuation that ends a criterion ("...;", "..., and", "... heart failure.")."""
    while tokens and (
        tokens[-1].type in ("SEMI", "COMMA", "AND", "OR", "ANDOR")
        or (tokens[-1].type == "PUNCT" and tokens[-1].value in ".:")
    ):
        tokens = tokens[:-1]
    return tokens


def _examples_comma(tokens: list[Token]) -> list[Token]:
    """ ", such as", ", e.g.": the comma only introduces the examples (the grammar stays LALR(1))."""
    after = [t.type for t in tokens[1:]] + [""] * bool(tokens)
    return [t for t, nxt in zip(tokens, after, strict=True) if not (t.type == "COMMA" and nxt == "INCLUDING")]


def _strict(tokens: list[Token], vocab: Vocabulary, kind: str) -> n.Node:
    """Parse a whole token list or raise ParseError / NotUnderstood."""
    tokens = rewrite_forms(join_paren_qualifiers(_examples_comma(_trim(tokens))))
    try:
        tree = _parser().parse(tokens)
        result: n.Node = ToAst(vocab, kind).transform(tree)
        return result
    except VisitError as exc:
        if isinstance(exc.orig_exc, NotUnderstood):
            raise exc.orig_exc from None
        raise
    except UnexpectedInput as exc:
        tok = getattr(exc, "token", None)
        start = getattr(tok, "start_pos", None)
        end = getattr(tok, "end_pos", None)
        if tok is None or getattr(tok, "type", "") == "$END":
            raise NotUnderstood("the text ends before the rule is complete") from None
        word = str(tok)
        at = next((k for k, t in enumerate(tokens) if t is tok), None)
        if tok.type in ("COND", "DRUG", "PROC", "LAB", "QLAB") and at and tokens[at - 1].type == "WORD":
            # the grammar stops at the concept after an unknown word ('suspected sarcoidosis'): name the word
            tok = tokens[at - 1]
            word, start, end = str(tok), tok.start_pos, tok.end_pos
        why = f"unknown word '{word}'" if tok.type == "WORD" else f"unexpected '{word}'"
        if tok.type == "PERSON":
            why = f"'{word}' is another person than the participant"
        if tok.type == "AMBIGUOUS":
            why = f"ambiguous condition name {word}: several unrelated readings"
        raise NotUnderstood(why, start, end) from None


def read_criterion(text: str, kind: str = "unspecified", vocabulary: Vocabulary | None = None) -> n.Node:
    """Read a rule written in the criteria language; raise :class:`ParseError` if it does not read in full.

    The rule language is the criteria language read literally: "and" is a conjunction and every
    modifier belongs to its own clause, so a reviewed rule has exactly one reading (``kind`` is
    accepted for symmetry with :func:`parse_criterion` and does not change the reading).
    """
    too_big = _unreadable_size(text)
    if too_big is not None:
        raise ParseError(f"cannot read rule: {too_big}", text[:200])
    vocab = vocabulary or default_vocabulary()
    tokens = tokenize(text, vocab)
    if not tokens:
        raise ParseError("empty rule", text, 0, len(text))
    try:
        rule = _strict(tokens, vocab, "rule")
    except NotUnderstood as exc:
        raise ParseError(f"cannot read rule: {exc.reason}", text, exc.start, exc.end) from None
    except LarkError as exc:  # pragma: no cover - grammar bugs surface here, still as our error type
        raise ParseError(f"cannot read rule: {exc}", text) from None
    implausible = first_implausibility(rule, vocab)
    if implausible is not None:
        raise ParseError(f"implausible threshold: {implausible}", text, 0, len(text))
    return rule


# Bounds that keep the reader's time and stack small whatever the text. The longest real criterion
# in the shared corpora (2,689 criteria) has 2,972 characters; reading time grows faster than the
# length (16k characters: 1.3 s, 100k: 23 s), so longer text is unknown and asks to be split.
MAX_CRITERION_CHARS = 5000
# Lark's tree transformer recurses once per nesting level; 200 levels exhausted Python's stack.
MAX_NESTING = 12
_OPEN, _CLOSE = "([{", ")]}"


def _nesting(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
    return deepest


def _unreadable_size(text: str) -> str | None:
    """Why the text is too big to read at all (length or nesting), else None."""
    if len(text) > MAX_CRITERION_CHARS:
        return (
            f"too long to read as one criterion ({len(text):,} characters; the limit is"
            f" {MAX_CRITERION_CHARS:,}): split it into separate items"
        )
    depth = _nesting(text)
    if depth > MAX_NESTING:
        return f"too deeply nested to read ({depth} levels of brackets; the limit is {MAX_NESTING})"
    return None


_DANGLING_OR_RE = re.compile(r"(?:\bor|\band\s*/\s*or)\W*$", re.I)


def parse_criterion(text: str, kind: str = "unspecified", vocabulary: Vocabulary | None = None) -> n.Node:
    """Read free criterion text as far as it can soundly be read; never raises on text.

    Every reading passes one last check: a lab threshold outside its analyte's plausible range
    (a unit typo such as "creatinine < 2.0 ng/dL") is unknown with the likely unit, never literal.
    """
    too_big = _unreadable_size(text)
    if too_big is not None:
        return n.Unparsed(text=text, reason=too_big, span=(0, len(text)))
    if has_inline_list(text):
        why = "it holds a numbered list (1. ... 2. ...) whose items are separate requirements: split them"
        return n.Unparsed(text=text, reason=why, span=(0, len(text)))
    cut = _DANGLING_OR_RE.search(text) if kind == "inclusion" else None
    if cut is not None and text[: cut.start()].strip():
        # "Age >= 60 years OR": one branch of an alternative that goes on in the next item, so meeting it
        # is enough and not meeting it is not a fail.
        branch = parse_criterion(text[: cut.start()], kind, vocabulary)
        other = n.Unparsed(text=text[cut.start() :].strip(), reason="an alternative given in the next item")
        return n.Or(items=(branch, other), span=(0, len(text)))
    vocab = vocabulary or default_vocabulary()
    free = disjoint_ages(per_sex_groups(_parse_free(text, kind, vocab)))
    reading = implausible_as_unparsed(age_boundaries(free, text, vocab), text, vocab)
    polar = exclusion_polarity(widened(complemented(reading, text), vocab), text, kind)
    return open_exceptions(default_lookbacks(group_label(polar, text), vocab), vocab)


def _parse_free(text: str, kind: str, vocab: Vocabulary) -> n.Node:
    """parse_criterion before the plausibility check."""
    tokens = _trim(tokenize(text, vocab))
    whole = (0, len(text))
    if not tokens:
        return n.Unparsed(text=text, reason="no criterion text", span=whole)
    subject = scale_subject(tokens)
    if subject is not None:  # "PHQ-9 for depression score": blanked, so every span stays where it was
        a, b = subject
        return _parse_free(text[:a] + " " * (b - a) + text[b:], kind, vocab)
    scoped = population_reading(text, kind, vocab, parse_criterion)  # "Cohort B: ...", "WOCBP must ..."
    if scoped is not None:
        return scoped
    try:
        return _strict(tokens, vocab, kind)
    except (NotUnderstood, LarkError) as exc:
        reason = exc.reason if isinstance(exc, NotUnderstood) else "the grammar could not read it"
    for special in (_conditional, _alternative_threshold, _exception):
        reading = special(text, tokens, vocab, kind)
        if reading is not None:
            return reading
    from .anchored import anchored_reading  # imports the extractor, which imports this package

    # Both fallbacks are sound; keep the one that leaves more of the criterion computable.
    pieces, seps = _pieces(tokens)
    timed = timed_list(text, pieces, seps, vocab, kind, _strict, _modifier_words)
    candidates = (_partial(text, tokens, vocab, kind), anchored_reading(text, kind, vocab), timed)
    found = [r for r in candidates if r is not None]
    if not found:
        return n.Unparsed(text=text.strip(), reason=reason, span=whole)
    return max(found, key=_computable_leaves)


def _shifted(rule: n.Node, offset: int) -> n.Node:
    """The same rule with every span moved by ``offset`` (a part read on its own, placed back)."""

    def shift(value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: shift(v) for k, v in value.items()}
            if isinstance(out.get("span"), list | tuple):
                out["span"] = [out["span"][0] + offset, out["span"][1] + offset]
            return out
        if isinstance(value, list):
            return [shift(v) for v in value]
        return value

    return type(rule).model_validate(shift(rule.model_dump(mode="json")))


def _conditional(text: str, tokens: list[Token], vocab: Vocabulary, kind: str) -> n.Node | None:
    """ "If A, B" read as ``A implies B`` with each side read as far as it soundly reads.

    Kleene implication stays sound with partial sides: an unread condition still lets a satisfied
    consequence decide ("If of child-bearing potential, a negative pregnancy test").
    """
    if len(tokens) < 3 or tokens[0].type != "IF":
        return None
    depth = 0
    for k, tok in enumerate(tokens):
        depth += (tok.type == "LPAR") - (tok.type == "RPAR")
        if depth == 0 and k > 1 and tok.type == "COMMA":
            break
    else:
        return None
    a0, a1 = tokens[1].start_pos or 0, tokens[k].start_pos or 0
    b0 = tokens[k].end_pos or 0
    cond_text, then_text = text[a0:a1], text[b0:]
    if not cond_text.strip() or not then_text.strip() or continues_label(then_text):
        return None  # "If A, or B, then C": the condition goes on past the comma
    # A listed condition ("if A and B") keeps both readings, as in an exclusion list.
    cond = _shifted(parse_criterion(cond_text, "exclusion", vocab), a0)
    then = _shifted(parse_criterion(then_text, kind, vocab), b0)
    if _computable_leaves(cond) + _computable_leaves(then) == 0:
        return None
    if kind == "exclusion":  # excluded are those with A and B; Implies would exclude everyone without A
        return n.And(items=(cond, then), span=(0, len(text)))
    return n.Implies(condition=cond, then=then, span=(0, len(text)))


_THRESHOLD_TAIL = frozenset({"NUMBER", "UNIT", "TIMES", "HIGHER", "ULN", "LLN"})


def _alternative_threshold(text: str, tokens: list[Token], vocab: Vocabulary, kind: str) -> n.Node | None:
    """ "ALT <= 2.5 x ULN (<= 5 x ULN if liver metastases)": another threshold under a condition M.

    Read exactly as ``(not M implies main) and (M implies alternative) and (main or alternative)``, the
    two versions of the criterion being the text with one threshold or the other, M read as far as it
    reads. The last part is implied by the first two (M or not M), but Kleene logic cannot see that
    while M is unknown: it lets a value beyond both thresholds decide.
    """
    lpar = next((k for k, t in enumerate(tokens) if t.type == "LPAR"), None)
    if lpar is None or lpar < 2:
        return None
    depth, rpar, cond_at = 0, None, None
    for k in range(lpar, len(tokens)):
        depth += (tokens[k].type == "LPAR") - (tokens[k].type == "RPAR")
        if depth == 1 and tokens[k].type == "IF" and cond_at is None:
            cond_at = k
        if depth == 0:
            rpar = k
            break
    if rpar is None or cond_at is None:
        return None
    inner = tokens[lpar + 1 : cond_at]
    if len(inner) < 2 or inner[0].type != "CMP" or any(t.type not in _THRESHOLD_TAIL for t in inner[1:]):
        return None
    cmp_at = max((k for k in range(lpar) if tokens[k].type == "CMP"), default=None)
    if cmp_at is None or any(t.type not in _THRESHOLD_TAIL for t in tokens[cmp_at + 1 : lpar]):
        return None
    cut, open_, close = tokens[cmp_at].start_pos or 0, tokens[lpar].start_pos or 0, tokens[rpar].end_pos or 0
    prefix, suffix = text[:cut], text[close:]
    alternative = text[tokens[lpar + 1].start_pos or 0 : tokens[cond_at].start_pos or 0]
    cond_text = text[tokens[cond_at].end_pos or 0 : tokens[rpar].start_pos or 0]
    main = n.strip_spans(parse_criterion(prefix + text[cut:open_] + suffix, kind, vocab))
    alt = n.strip_spans(parse_criterion(prefix + alternative + " " + suffix, kind, vocab))
    cond = n.strip_spans(parse_criterion(cond_text, "exclusion", vocab))
    if _computable_leaves(main) + _computable_leaves(alt) == 0:
        return None
    whole = (0, len(text))
    return n.And(
        items=(
            n.Implies(condition=n.Not(item=cond), then=main),
            n.Implies(condition=cond, then=alt),
            n.Or(items=(main, alt)),
        ),
        span=whole,
    )


_LIST_SEPARATORS = frozenset({"OR", "ANDOR", "AND", "SEMI", "COMMA"})


def _top_level(tokens: list[Token], types: frozenset[str], words: frozenset[str] = frozenset()) -> int | None:
    """Index of the first token of one of ``types`` (or a WORD in ``words``) outside parentheses."""
    depth = 0
    for k, tok in enumerate(tokens):
        depth += (tok.type == "LPAR") - (tok.type == "RPAR")
        if depth == 0 and (tok.type in types or (tok.type == "WORD" and tok.value.lower() in words)):
            return k
    return None


def _exception(text: str, tokens: list[Token], vocab: Vocabulary, kind: str) -> n.Node | None:
    """ "A, except E" and "A unless E" where E (or A) does not read in full.

    "A unless E" waives A when E holds (see ``_unless``). "A except E" is not that: it means an A
    that is not an E (a patient with lung cancer and a treated skin carcinoma still has "a
    malignancy except skin carcinoma"), so an unread E leaves ``A and {except E}``: false without
    A, unknown with it. Both need A to be a single clause, and for "except" one that only grows
    with more records (no negation), since "no malignancy except E" is met by an E alone.
    """
    k = _top_level(tokens, frozenset({"EXCEPT"}), frozenset({"unless"}))
    if k is None or k == 0 or k == len(tokens) - 1:
        return None
    main_toks = _trim(tokens[:k])
    if not main_toks or _top_level(main_toks, _LIST_SEPARATORS) is not None:
        return None
    a0, a1 = main_toks[0].start_pos or 0, main_toks[-1].end_pos or 0
    e0 = tokens[k].start_pos or 0
    main = _shifted(parse_criterion(text[a0:a1], kind, vocab), a0)
    if _computable_leaves(main) == 0:
        return None
    whole = (0, len(text))
    if tokens[k].type == "WORD":  # unless
        b0 = tokens[k].end_pos or 0
        other = _shifted(parse_criterion(text[b0:], "exclusion", vocab), b0)
        return _unless(main, other, kind, whole)
    after_for = tokens[k].value.lower().endswith(" for")  # "except for" is one token
    waiver = _waiver_re(after_for).match(text, tokens[k].end_pos or 0)
    measured = not any(isinstance(x, n.Condition | n.Medication | n.Procedure) for x in n.walk(main))
    if measured and text[waiver.end() if waiver else tokens[k].end_pos or 0 :].strip():
        # "bilirubin <= 1.5 mg/dL, except in patients with Gilbert's syndrome": a measured limit has no kinds to
        # leave out, so "except" says who it is waived for and reads as "unless" (audit seed 18: a Gilbert's
        # patient was failed). After a class of conditions ("any malignancy except for those with ...") "those"
        # may be kinds of it: that stays an exception of the class.
        b0 = waiver.end() if waiver else tokens[k].end_pos or 0
        other = _shifted(parse_criterion(text[b0:], "exclusion", vocab), b0)
        return _unless(main, other, kind, whole)
    if any(isinstance(x, n.Not | n.Implies) for x in n.walk(main)):  # walks into every reading of an Ambiguous
        return None
    rest = n.Unparsed(text=text[e0:].strip(), reason="an exception the engine cannot check", span=(e0, len(text)))
    return n.And(items=(main, rest), span=whole)


@cache
def _waiver_re(after_for: bool) -> re.Pattern[str]:
    """After "except": "in patients with", "for those who", "if", "when": the people a rule is waived for
    (``after_for``: the text after "except for", which must name people)."""
    people = "|".join(re.escape(w) for w in lexicon_data()["exception_persons"])
    who = rf"(?:the\s+)?(?:{people})\s+(?:with|who\s+have|who\s+are|who|having|on|receiving)\b"
    if after_for:
        return re.compile(rf"\s*{who}", re.IGNORECASE)
    return re.compile(
        rf"\s*(?:(?:in|for|among)\s+(?:{who}|(?:with|having)\b)|if\b|when\b|where\b|in\s+(?:the\s+)?case\s+of\b)",
        re.IGNORECASE,
    )


def _unless(main: n.Node, other: n.Node, kind: str, whole: tuple[int, int]) -> n.Node:
    """ "A unless E": E waives the criterion, so which way it points depends on the criterion's kind.

    An exclusion excludes those with A and not E ("platelets below 40 unless due to marrow
    infiltration"); an inclusion is met by A or by E ("bilirubin at most 1.5 x ULN unless due to
    Gilbert's syndrome" admits a patient with Gilbert's and a high bilirubin, so a high bilirubin
    alone never fails). Read without a kind, both stay, and only what they agree on decides.
    """
    excluded = n.And(items=(main, n.Not(item=other, span=other.span)), span=whole)
    met = n.Or(items=(main, other), span=whole)
    if kind == "exclusion":
        return excluded
    if kind == "inclusion":
        return met
    why = "'unless' waives an inclusion (A or E) but narrows an exclusion (A and not E); the kind is not given"
    return n.Ambiguous(readings=(met, excluded), reason=why, span=whole)


def _computable_leaves(rule: n.Node) -> int:
    return sum(1 for x in n.walk(rule) if not n.children(x) and not isinstance(x, n.Unparsed | n.Measurement))


def _pieces(tokens: list[Token]) -> tuple[list[list[Token]], list[str]]:
    """Split at top-level separators (outside parentheses).

    Not after a top-level "such as" / "e.g." / "including": what follows is a list of examples of the
    class before it, one piece with that class, never items of the list ("A such as x and y").
    """
    pieces: list[list[Token]] = [[]]
    seps: list[str] = []
    depth = 0
    examples = False
    for tok in tokens:
        if tok.type == "LPAR":
            depth += 1
        elif tok.type == "RPAR":
            depth = max(0, depth - 1)
        examples = examples or (depth == 0 and tok.type == "INCLUDING")
        if depth == 0 and tok.type in _SEPARATORS and not examples:
            if pieces[-1]:
                pieces.append([])
                seps.append(sep_name(tok))
            elif seps and seps[-1] == "COMMA":
                seps[-1] = sep_name(tok)  # ", or" is one separator
        else:
            pieces[-1].append(tok)
    if not pieces[-1]:
        pieces.pop()
        seps = seps[: len(pieces) - 1]
    return pieces, seps


# An unread last item made of these alone reads as one more noun of the list ("..., or nursing"),
# not as a modifier of the whole list.
_PLAIN_NOUN_TYPES = frozenset({"WORD", "COND", "DRUG", "PROC", "QLAB", "LAB", "PUNCT", "QUAL", "CURRENT"})
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'’-]*")


@cache
def _trailing_modifiers() -> frozenset[str]:
    return frozenset(w.lower() for w in lexicon_data()["trailing_modifiers"])


@cache
def _relational_heads() -> frozenset[str]:
    return frozenset(w.lower() for w in lexicon_data()["relational_heads"])


def _clause_words(chunk: str) -> bool:
    """Does an unread item carry a clause (a participle or relative word) that may qualify earlier items?"""
    words = frozenset(w.lower() for w in lexicon_data()["clause_modifiers"])
    found = [m.group(0).lower() for m in _WORD_RE.finditer(chunk)]
    # an "-ing" word ending the item is a noun ("history of bleeding"), one with words after it a participle
    return any(w in words or (w.endswith("ing") and k < len(found) - 1) for k, w in enumerate(found))


def _modifier_words(chunk: str) -> bool:
    """Does an unread last item carry words that usually attach to what comes before it?"""
    words = _trailing_modifiers()
    return any(m.group(0).lower() in words or m.group(0).lower().endswith("ing") for m in _WORD_RE.finditer(chunk))


def _merge_sex_pieces(
    pieces: list[list[Token]], seps: list[str], alone: list[n.Node]
) -> tuple[list[list[Token]], list[str], list[n.Node]]:
    """'male or female' is one statement about who may take part, not two items of the list."""
    out_p, out_s, out_a = [pieces[0]], [], [alone[0]]
    for piece, sep, node in zip(pieces[1:], seps, alone[1:], strict=True):
        prev = out_a[-1]
        if isinstance(prev, n.Sex) and isinstance(node, n.Sex):
            sexes = tuple(dict.fromkeys((*prev.sexes, *node.sexes)))
            out_a[-1] = n.Sex(sexes=sexes, span=(prev.span or (0, 0))[:1] + (node.span or (0, 0))[1:])
            out_p[-1] = out_p[-1] + piece
            continue
        out_p.append(piece)
        out_s.append(sep)
        out_a.append(node)
    return out_p, out_s, out_a


def _partial(text: str, tokens: list[Token], vocab: Vocabulary, kind: str) -> n.Node | None:
    """Read a list item by item; unreadable items become Unparsed.

    Sound only where an item read alone means what it means in the list: an item is not trusted
    when the first item's prefix ("history of", "no", a qualifier) or the last item's time
    modifier ("within one year") might extend over it.
    """
    etc = None
    if tokens[-1].type == "ETC":  # "A, B, etc.": examples of an unnamed class, any of them proves it
        etc = etc_item((tokens[-1].start_pos or 0, tokens[-1].end_pos or 0))
        tokens = _trim(tokens[:-1])
        if not tokens:
            return None
    pieces, seps = _pieces(tokens)
    if etc is not None:
        seps = ["OR"] * len(seps)
    if len(pieces) < 2 and etc is None:
        return None
    first_scopes = pieces[0][0].type in _SCOPING_PREFIX
    timed = [any(t.type in _TIME_TOKENS for t in piece) for piece in pieces]
    alone: list[n.Node] = []
    for piece in pieces:
        start, end = piece[0].start_pos or 0, piece[-1].end_pos or 0
        try:
            alone.append(_strict(piece, vocab, kind))
        except (NotUnderstood, LarkError) as exc:
            why = exc.reason if isinstance(exc, NotUnderstood) else "the grammar could not read it"
            alone.append(n.Unparsed(text=text[start:end], reason=why, span=(start, end)))
    pieces, seps, alone = _merge_sex_pieces(pieces, seps, alone)
    if etc is not None and any(isinstance(a, n.Sex | n.Age) for a in alone):
        return None
    if len(pieces) < 2 and etc is None:
        return None
    timed = [any(t.type in _TIME_TOKENS for t in piece) for piece in pieces]
    unread = [isinstance(r, n.Unparsed) for r in alone]
    last = pieces[-1]
    tail_scopes = (
        unread[-1]
        and (
            any(isinstance(r, n.Sex) for r in alone[:-1])
            or any(t.type not in _PLAIN_NOUN_TYPES for t in last)
            or _modifier_words(text[last[0].start_pos or 0 : last[-1].end_pos or 0])
            # "aspirin or sulfa allergy": a head noun that needs an object may be shared by the drugs before it,
            # which read alone would be an exposure
            or (last[-1].value.lower() in _relational_heads() and any(t.type == "DRUG" for p in pieces[:-1] for t in p))
        )
    )
    # An unread first item that ends at a comma and holds modifier words may be a leading modifier of
    # the whole list ("for participants of one arm only, A or B").
    first = pieces[0]
    lead_scopes = (
        unread[0] and bool(seps) and seps[0] == "COMMA"
        and _modifier_words(text[first[0].start_pos or 0 : first[-1].end_pos or 0])
    )  # fmt: skip
    persons = person_suspects(pieces)
    # Any unread later item with such words may finish an earlier item that needs an object, not only the
    # last: in "allergy or long-term use of propofol and opioids", "of propofol" may be what the allergy is to.
    modifying = [
        unread[j] and _modifier_words(text[pieces[j][0].start_pos or 0 : pieces[j][-1].end_pos or 0])
        for j in range(len(pieces))
    ]
    relational = _relational_heads()
    needs_object = [piece[-1].value.lower() in relational for piece in pieces]
    # A clause in an unread later item ("mental retardation interfering with ...", "... requiring ...") may
    # qualify every item before it, as in the last item ("A psychiatric illness, or B interfering with C").
    clause = [
        unread[j] and _clause_words(text[pieces[j][0].start_pos or 0 : pieces[j][-1].end_pos or 0])
        for j in range(len(pieces))
    ]
    readings: list[n.Node] = []
    understood = 0
    for i, piece in enumerate(pieces):
        start, end = piece[0].start_pos or 0, piece[-1].end_pos or 0
        # A leading modifier scopes rightwards ("history of A, B or C"); a trailing one, left
        # unread in the last item, may scope leftwards ("men or women aged 18-75 at consent").
        suspect = (
            (i > 0 and first_scopes and piece[0].type not in _SCOPING_PREFIX)
            or (any(timed[i + 1 :]) and any(t.type in _MENTIONS for t in piece) and not timed[i])
            or (i < len(pieces) - 1 and tail_scopes)
            or (needs_object[i] and any(modifying[i + 1 :]))
            or any(clause[i + 1 :])
            or (i > 0 and lead_scopes)
            or i in persons  # "mother with diabetes or heart failure": another person's items
            # "total and direct bilirubin > 2 x ULN": a lone unread word may name a variant of the lab after it
            or (i > 0 and piece[0].type == "LAB" and unread[i - 1] and all(t.type == "WORD" for t in pieces[i - 1]))
            # "albumin < 30 without liver or renal dysfunction", "inhaled or systemic corticosteroids": an
            # unread item may have been cut out of a phrase that the items after it finish.
            or any(unread[:i])
        )
        if suspect and not unread[i]:
            readings.append(
                n.Unparsed(
                    text=text[start:end], reason="a modifier elsewhere in the list may apply here", span=(start, end)
                )
            )
            continue
        readings.append(alone[i])
        understood += not unread[i]
    if understood == 0:
        return None
    if etc is not None:
        readings.append(etc)
        seps = [*seps, "OR"]
    seq = Seq(span=(0, len(text)))
    seq.seps = list(seps)
    seq.clauses = [None] * len(readings)  # type: ignore[list-item]
    try:
        resolved = _resolve_seps(seq)
    except NotUnderstood:
        return None
    return _combine(readings, resolved, ToAst(vocab, kind), (0, len(text)))
