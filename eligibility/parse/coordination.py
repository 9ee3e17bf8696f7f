"""Coordinated words that share a head or a modifier with the concept beside them.

"Drug or alcohol abuse" is "drug abuse or alcohol abuse": the unknown word "drug" borrows the head
"abuse" of the concept after it. "Alcohol abuse or dependence" is "alcohol abuse or alcohol
dependence": the unknown word "dependence" borrows the modifier of the concept before it. The word
becomes a concept token only when the phrase it then makes reads, on its own, as exactly one concept
of the same kind; otherwise it stays an unknown word and the clause stays unread.

Where one list borrows both ways ("alcohol or substance abuse or dependence"), it names every
pairing of its modifiers and heads; it is read only when each pairing is a concept of the list or a
member of one ("alcohol dependence" is a member of "substance dependence"), so no pairing is left out
of the alternative.
"""

from __future__ import annotations

from collections.abc import Callable

from lark import Token

_JOINS = frozenset({"OR", "ANDOR", "AND", "SLASH"})
_CONCEPTS = frozenset({"COND", "DRUG", "PROC"})


def _token(kind: str, value: str, start: int, end: int) -> Token:
    return Token(kind, value, start_pos=start, end_pos=end, line=1, column=start + 1, end_line=1, end_column=end + 1)


def share_heads(
    tokens: list[Token],
    text: str,
    read_one: Callable[[str], Token | None],
    leaves: Callable[[str], frozenset[str]] = frozenset,
) -> list[Token]:
    """The tokens with coordinated unknown words read as the concepts they make with their neighbour.

    ``read_one(phrase)`` is the single concept token a phrase reads as on its own, or None; ``leaves(id)``
    the concept with its members (a group takes in what its members name).
    """
    if not any(t.type == "WORD" for t in tokens):
        return tokens
    out = list(tokens)
    modifiers: dict[int, tuple[str, str]] = {}  # index -> (the word, the head it borrowed)
    heads: dict[int, tuple[str, str]] = {}  # index -> (the modifier it borrowed, the word)
    for i in range(len(out) - 3, -1, -1):  # right to left: "A, B or C abuse" passes the head on
        word, join, concept = out[i], out[i + 1], out[i + 2]
        if word.type != "WORD" or join.type not in _JOINS | {"COMMA"} or concept.type not in _CONCEPTS:
            continue
        said = text[concept.start_pos or 0 : concept.end_pos or 0].split()
        if len(said) < 2:
            continue
        head = " ".join(said[1:]) if i + 2 not in modifiers else modifiers[i + 2][1]
        found = read_one(f"{word.value} {head}")
        if found is not None and found.type == concept.type:
            out[i] = _token(found.type, str(found.value), word.start_pos or 0, word.end_pos or 0)
            modifiers[i] = (word.value, head)
    for i in range(2, len(out)):
        before, join, alone = out[i - 2], out[i - 1], out[i]
        if alone.type != "WORD" or join.type not in _JOINS or before.type not in _CONCEPTS or i - 2 in modifiers:
            continue
        said = text[before.start_pos or 0 : before.end_pos or 0].split()
        if len(said) < 2:
            continue
        modifier = " ".join(said[:-1])
        found = read_one(f"{modifier} {alone.value}")
        if found is not None and found.type == before.type:
            out[i] = _token(found.type, str(found.value), alone.start_pos or 0, alone.end_pos or 0)
            heads[i] = (modifier, alone.value)
    if modifiers and heads:
        named = {str(t.value) for t in out if t.type in _CONCEPTS}
        within = frozenset(named).union(*(leaves(c) for c in named))
        for first, _ in modifiers.values():
            for _, last in heads.values():
                found = read_one(f"{first} {last}")
                if found is None or str(found.value) not in within:
                    return tokens
    return out


def slash_between_mentions(tokens: list[Token]) -> list[Token]:
    """ "spinal cord compression/brain metastases": a slash between two mentions joins them as a list whose
    items may be meant each or any (an AND token whose value is "/", see :func:`sep_name`); elsewhere a slash
    is left as it is (lab lists, "170/110", "and/or")."""
    out = list(tokens)
    for i in range(1, len(out) - 1):
        if out[i].type == "SLASH" and out[i - 1].type in _CONCEPTS and out[i + 1].type in _CONCEPTS:
            out[i] = _token("AND", "/", out[i].start_pos or 0, out[i].end_pos or 0)
    return out


def sep_name(tok: Token) -> str:
    """A separator token's name in a list; a slash between mentions is "SLASHED" (each or any, in every kind)."""
    return "SLASHED" if tok.type == "AND" and tok.value == "/" else tok.type
