"""Two token forms the grammar does not take, rewritten before it reads them.

* "non-renal solid organ transplant": ``non - WORD`` before a condition, drug or procedure narrows it to the
  kinds that are not WORD. It becomes one qualifier token ("non-renal"), read as every qualifier is: the
  mention ANDed with an unevaluated part, so a record of the mention alone never decides that it is of the
  narrowed kind (unknown), and no record of it decides that it is not (false).
* "Patient Health Questionnaire (PHQ-9) for depression score >= 15": "for <condition>" between a score
  instrument and the word "score" names what the instrument measures, not a second requirement; the text is
  read with it blanked out (``scale_subject`` gives its place), and only where the word after the condition is
  "score" or "scale" ("PHQ-9 for depression" alone is left).
"""

from __future__ import annotations

from functools import cache

from lark import Token

from .lexer import lexicon_data

__all__ = ["rewrite_forms", "scale_subject"]

_MENTIONS = frozenset({"COND", "DRUG", "PROC"})


def rewrite_forms(tokens: list[Token]) -> list[Token]:
    """The token list with "non-X" before a mention as one qualifier (module docstring)."""
    out: list[Token] = []
    k = 0
    while k < len(tokens):
        tok = tokens[k]
        if _is_non(tokens, k):
            word = tokens[k + 2]
            qual = Token("QUAL", f"non-{word}", start_pos=tok.start_pos, end_pos=word.end_pos)
            out.append(qual)
            k += 3
            continue
        out.append(tok)
        k += 1
    return out


def _is_non(tokens: list[Token], k: int) -> bool:
    """``non - WORD`` right before a mention."""
    return (
        k + 3 < len(tokens)
        and tokens[k].type == "NOT"
        and str(tokens[k]).lower() == "non"
        and tokens[k + 1].type == "DASH"
        and tokens[k + 2].type == "WORD"
        and tokens[k + 3].type in _MENTIONS
    )


def scale_subject(tokens: list[Token]) -> tuple[int, int] | None:
    """Where "for <condition>" stands between a score instrument and "score" (module docstring), else None."""
    for k in range(1, len(tokens) - 2):
        tok, cond, word = tokens[k], tokens[k + 1], tokens[k + 2]
        if (
            tok.type == "FOR"
            and tokens[k - 1].type == "LAB"
            and cond.type == "COND"
            and word.type == "WORD"
            and str(word).lower() in _score_words()
        ):
            return tok.start_pos or 0, cond.end_pos or 0
    return None


@cache
def _score_words() -> frozenset[str]:
    return frozenset(w.lower() for w in lexicon_data()["scale_subject_words"])
