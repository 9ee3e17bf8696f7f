"""A qualifier in parentheses after a mention: "hepatitis B (active)", "HCV infection (with a detectable viral load)",
or after the mention's time window: "alcohol abuse within 2 years (DSM-IV criteria)".

The grammar cannot tell "(active)" from the start of a parenthesised list within one token of look-ahead (a
qualifier also opens a clause), so this pass joins ``( QUAL )`` right after a condition, drug or procedure
into one QUALPOST token first. The transformer then reads it as the same qualifier written before the name:
an unevaluated part ANDed to the mention, and after a list a modifier that may scope over every item (both
readings kept).
"""

from __future__ import annotations

from lark import Token

_MENTIONS = frozenset({"COND", "DRUG", "PROC"})
_AFTER = _MENTIONS | {"TIMEUNIT"}  # a window's unit ends a postfix the qualifier may follow


def join_paren_qualifiers(tokens: list[Token]) -> list[Token]:
    """``COND ( QUAL )`` -> ``COND QUALPOST`` (also after a window's ``TIMEUNIT``); anything else is left as it is."""
    out: list[Token] = []
    k = 0
    while k < len(tokens):
        tok = tokens[k]
        if (
            tok.type == "LPAR"
            and out
            and out[-1].type in _AFTER
            and k + 2 < len(tokens)
            and tokens[k + 1].type == "QUAL"
            and tokens[k + 2].type == "RPAR"
        ):
            qual = tokens[k + 1]
            out.append(Token("QUALPOST", str(qual), start_pos=tok.start_pos, end_pos=tokens[k + 2].end_pos))
            k += 3
            continue
        out.append(tok)
        k += 1
    return out
