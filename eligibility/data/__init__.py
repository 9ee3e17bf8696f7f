"""Package data: vocabularies, word lists, unit aliases, reference ranges (YAML), read by the modules that use them."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from ..errors import VocabularyError


def _parse_yaml(text: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def load_yaml(text: str) -> Any:
    """A package data file's YAML, through libyaml's C loader where it is built (about 7x faster on
    concepts.yaml: start-up time), else the pure-Python one. Both are the safe loader: same result.

    The parsed document is kept in the start-up cache as JSON, keyed by the text itself
    (:mod:`eligibility.usercache`): reading it back is about 25x faster than libyaml. A document that JSON
    cannot give back exactly (dates, non-string keys) is parsed every time. A YAML error is never cached.
    """
    import yaml

    from ..usercache import cached_json, digest

    return cached_json("yaml", digest("yaml", yaml.__version__, text), lambda: _parse_yaml(text))


@cache
def _document(file: str) -> Mapping[str, Any]:
    """A package data file's top-level mapping, read once per process (the word lists below share it)."""
    data = load_yaml(resources.files(__name__).joinpath(file).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise VocabularyError(f"{file}: expected a mapping of word lists at the top level")
    return data


def _field(file: str, field: str) -> Any:
    data = _document(file)
    if field not in data:
        raise VocabularyError(f"{file}: field '{field}' is missing")
    return data[field]


def word_list(file: str, field: str) -> frozenset[str]:
    """The words of ``field`` in the package data file ``file``: a YAML list of lower-case strings.

    Word lists are data, so that a change of vocabulary is reviewed as data; a malformed list is a
    :class:`~eligibility.errors.VocabularyError` naming the file and the field (never a silently empty set).
    """
    items = _field(file, field)
    if not isinstance(items, list) or not items:
        raise VocabularyError(f"{file}: field '{field}' must be a non-empty list of words")
    for item in items:
        if not isinstance(item, str) or not item.strip() or item != item.lower():
            raise VocabularyError(f"{file}: field '{field}': {item!r} is not a lower-case word")
    return frozenset(items)


def word_map(file: str, field: str) -> Mapping[str, str]:
    """The ``word: value`` pairs of ``field`` in the package data file ``file`` (read-only)."""
    items = _field(file, field)
    if not isinstance(items, dict) or not items:
        raise VocabularyError(f"{file}: field '{field}' must be a non-empty mapping of words")
    for key, value in items.items():
        if not isinstance(key, str) or not isinstance(value, str) or key != key.lower():
            raise VocabularyError(f"{file}: field '{field}': {key!r}: {value!r} is not a lower-case word and a string")
    return MappingProxyType(dict(items))
