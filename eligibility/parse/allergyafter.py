"""The allergy word after the drug: "penicillin allergy", "metformin intolerance", "aspirin or NSAID allergy".

Read as "allergy to <drugs>" (the ALLERGYTO token moved before the DRUG tokens, each keeping its own span),
so the grammar has one form. The head is shared by a list of drugs before it ("peanut or tree nut allergy"
is an allergy to either), as English shares it. Only at the start of a clause, where nothing stands before
the drugs but "history of", "no", a qualifier or words that say nothing ("known", "patients with"): in
"use of aspirin or penicillin allergy" the skipped "use of" makes the first drug an exposure, so it stays
unread. The words are data (lexicon.yaml ``allergy_after``: the reaction each asks for, as
``allergy_phrases``; ``allergy_after_lead``: the words that may stand before the drugs).
"""

from __future__ import annotations

import re
from functools import cache

from lark import Token

_LEAD = frozenset({"NOT", "HISTORY", "CURRENT", "QUAL"})
_LIST = frozenset({"COMMA", "OR", "AND", "ANDOR", "SLASH"})
_WORDS = re.compile(r"[^\W\d_]+")


@cache
def _words() -> tuple[dict[str, str], frozenset[str]]:
    """(allergy word, lower case and single spaces -> the reaction it asks for; the words allowed before)."""
    from .lexer import lexicon_data  # (the lexer calls this module)

    data = lexicon_data()
    heads = {w.lower(): reaction for reaction, words in data["allergy_after"].items() for w in words}
    return heads, frozenset(w.lower() for w in data["allergy_after_lead"])


def _bare(text: str, allowed: frozenset[str] = frozenset()) -> bool:
    """Whether a gap between two tokens holds no word the scanner skipped (but ``allowed`` ones)."""
    return all(w.lower() in allowed for w in _WORDS.findall(text))


def allergy_after(tokens: list[Token], text: str) -> list[Token]:
    heads, lead_words = _words()
    start = 0
    while start < len(tokens) and tokens[start].type in _LEAD:
        start += 1
    # the drugs: DRUG (sep DRUG)* right after the lead, then the allergy word
    k = start
    while k < len(tokens) and tokens[k].type == "DRUG":
        if k + 2 < len(tokens) and tokens[k + 1].type in _LIST and tokens[k + 2].type == "DRUG":
            k += 2
            continue
        break
    if k >= len(tokens) - 1 or tokens[start].type != "DRUG" or tokens[k].type != "DRUG":
        return tokens
    word = tokens[k + 1]
    said = re.sub(r"\s+", " ", text[word.start_pos or 0 : word.end_pos or 0].lower())
    reaction = heads.get(said)
    if reaction is None or word.type not in ("COND", "WORD") or (word.type == "COND" and word.value != "allergy"):
        return tokens
    before = tokens[start - 1].end_pos or 0 if start else 0
    if not _bare(text[before : tokens[start].start_pos or 0], lead_words):
        return tokens
    if not all(
        _bare(text[a.end_pos or 0 : b.start_pos or 0])
        for a, b in zip(tokens[start : k + 1], tokens[start + 1 : k + 2], strict=True)
    ):
        return tokens
    head = Token(
        "ALLERGYTO",
        reaction,
        start_pos=word.start_pos,
        end_pos=word.end_pos,
        line=1,
        column=(word.start_pos or 0) + 1,
        end_line=1,
        end_column=(word.end_pos or 0) + 1,
    )
    return [*tokens[:start], head, *tokens[start : k + 1], *tokens[k + 2 :]]
