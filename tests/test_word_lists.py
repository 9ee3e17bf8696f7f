"""Word lists are data files: what the code uses is what the file says, and a malformed list is refused."""

from __future__ import annotations

from importlib import resources
from types import ModuleType
from typing import Any

import pytest
import yaml

from eligibility import concepts, data, extract, terminology
from eligibility.concepts import default_vocabulary
from eligibility.errors import VocabularyError
from eligibility.extract import extract_comparisons
from eligibility.io import criteria_text
from eligibility.io.ctgov import split_criteria


def _file(name: str) -> dict[str, Any]:
    """The data file read by plain PyYAML, apart from the package's loader and its start-up cache."""
    loaded: dict[str, Any] = yaml.safe_load(resources.files("eligibility.data").joinpath(name).read_text("utf-8"))
    return loaded


# Each word-list data file and the module that loads it: field ``f`` is the module's ``_F`` (upper case) unless
# named here. A field the code asks for and the file lacks fails at import (VocabularyError); the test below
# catches the reverse, a field no code reads.
FILES: dict[str, tuple[ModuleType, dict[str, str]]] = {
    "negation_words.yaml": (concepts, {"negation": "NEGATION_WORDS"}),
    "comparison_words.yaml": (extract, {"or_higher": "_HIGHER_WORDS"}),
    "icd10cm_words.yaml": (terminology, {}),
    "inline_list_words.yaml": (criteria_text, {}),
}


@pytest.mark.parametrize("file", sorted(FILES))
def test_the_code_uses_the_word_lists_of_the_file(file: str) -> None:
    module, names = FILES[file]
    for field, words in _file(file).items():
        name = names.get(field, "_" + field.upper())
        assert hasattr(module, name), f"{file}: no code reads '{field}' (expected {module.__name__}.{name})"
        used = getattr(module, name)
        if isinstance(words, dict):
            assert dict(used) == words, field
        else:
            assert len(words) == len(set(words)), f"{file}: {field} lists a word twice"
            assert used == frozenset(words), field


def test_every_negation_word_refuses_a_text_match() -> None:
    vocab = default_vocabulary()
    assert vocab.concepts_for_text("hypertension") == {"hypertension"}
    for word in sorted(concepts.NEGATION_WORDS):
        assert vocab.concepts_for_text(f"hypertension {word}") == frozenset(), word


@pytest.mark.parametrize(("word", "op"), sorted(_file("comparison_words.yaml")["or_higher"].items()))
def test_or_higher_words_make_their_operator(word: str, op: str) -> None:
    found = extract_comparisons(f"Karnofsky score 70 or {word}")
    assert [(c.op, c.value) for c in found] == [(op, 70.0)]


def test_a_number_after_a_value_word_starts_no_inline_item() -> None:
    def items(text: str) -> list[str]:
        return [c.text for c in split_criteria(f"Inclusion Criteria:\n1. {text} 2. Able to swallow tablets\n")]

    assert items("Neuropathy adults") == ["Neuropathy adults", "Able to swallow tablets"]
    for word in sorted(criteria_text._VALUE_WORDS):
        assert len(items(f"Neuropathy {word}")) == 1, word


def test_spelling_and_joining_prefixes_normalise() -> None:
    assert terminology.normalise("Tumour of the centre") == terminology.normalise("tumor center")
    assert "hodgkin" not in terminology.words("non-Hodgkin lymphoma")
    assert "hodgkin" in terminology.words("Hodgkin-lymphoma")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "x.yaml: field 'words' is missing"),
        ({"words": []}, "x.yaml: field 'words' must be a non-empty list of words"),
        ({"words": "no"}, "x.yaml: field 'words' must be a non-empty list of words"),
        ({"words": ["no", "Not"]}, "x.yaml: field 'words': 'Not' is not a lower-case word"),
        ({"words": ["no", 3]}, "x.yaml: field 'words': 3 is not a lower-case word"),
    ],
)
def test_a_malformed_word_list_names_file_and_field(
    monkeypatch: pytest.MonkeyPatch, document: dict[str, Any], message: str
) -> None:
    monkeypatch.setattr(data, "_document", lambda file: document)
    with pytest.raises(VocabularyError) as err:
        data.word_list("x.yaml", "words")
    assert str(err.value) == message


def test_a_malformed_word_map_names_file_and_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "_document", lambda file: {"pairs": ["no"]})
    with pytest.raises(VocabularyError, match=r"x.yaml: field 'pairs' must be a non-empty mapping"):
        data.word_map("x.yaml", "pairs")


def test_or_higher_refuses_another_operator() -> None:
    with pytest.raises(VocabularyError, match=r"comparison_words.yaml: field 'or_higher': 'higher': '>'"):
        extract._operators({"higher": ">"})
