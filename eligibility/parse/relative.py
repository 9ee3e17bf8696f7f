"""A relative clause after a mention: "active cancer which would require concomitant chemotherapy".

"that" / "which" after a condition, drug or procedure (or after its time window) opens a clause that says
which of them the criterion means: a subset, never another item. The clause is kept as one unread qualifier
(``QUALPOST``): the mention ANDed with an unevaluated part, so no record of the mention still decides and a
record of it leaves the criterion to a coordinator. Only a clause that runs to the end of the text and holds
no list separator is taken, so an alternative after it ("..., or active infection") is never swallowed.

Likewise "before" / "during" and a condition after a mention: "diabetes before pregnancy", "seizures during
pregnancy" say when the first one happened relative to the second, which the engine does not compare: one
unread qualifier, never the second condition as another item of the list.
"""

from __future__ import annotations

import re

from lark import Token

_AFTER = frozenset({"COND", "DRUG", "PROC", "TIMEUNIT"})
_SEPARATORS = frozenset({"OR", "AND", "ANDOR", "COMMA", "SEMI", "SLASH", "LPAR", "RPAR"})
_OPENS = re.compile(r"\s*(?:that|which)\s+(?=[A-Za-z])", re.IGNORECASE)
_RELATIONS = frozenset({"before", "during"})
_ENDS = frozenset({"OR", "AND", "ANDOR", "COMMA", "SEMI", "PUNCT"})


def relative_clause(tokens: list[Token], text: str) -> list[Token]:
    """The tokens with a trailing "that/which ..." after a mention joined into one QUALPOST token."""
    tokens = _relation(tokens, text)
    for i, tok in enumerate(tokens):
        if tok.type not in _AFTER or (i == len(tokens) - 1 and not text[tok.end_pos or 0 :].strip(" .")):
            continue
        found = _OPENS.match(text, tok.end_pos or 0)
        if found is None:
            continue
        rest = tokens[i + 1 :]
        if any(t.type in _SEPARATORS for t in rest) or any((t.start_pos or 0) < found.end() for t in rest):
            return tokens
        end = len(text.rstrip(" .;"))
        clause = text[found.start() : end].strip()
        qual = Token("QUALPOST", clause, start_pos=found.start(), end_pos=end, line=1, column=found.start() + 1)
        return [*tokens[: i + 1], qual]
    return tokens


def _relation(tokens: list[Token], text: str) -> list[Token]:
    """``COND before|during COND`` (then the end or a separator) -> ``COND QUALPOST``."""
    out = list(tokens)
    i = 1
    while i + 1 < len(out):
        rel, other = out[i], out[i + 1]
        if (
            out[i - 1].type in _AFTER - {"TIMEUNIT"}
            and rel.type in ("PRIOR", "WITHIN")
            and str(rel).lower() in _RELATIONS
            and other.type == "COND"
            and (i + 2 == len(out) or out[i + 2].type in _ENDS)
        ):
            words = text[rel.start_pos or 0 : other.end_pos or 0]  # as written, not the concept id
            out[i : i + 2] = [
                Token("QUALPOST", words, start_pos=rel.start_pos, end_pos=other.end_pos, line=1, column=rel.column)
            ]
        i += 1
    return out
