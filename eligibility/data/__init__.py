"""Package data: vocabularies, word lists, unit aliases, reference ranges (YAML), read by the modules that use them."""

from __future__ import annotations

from typing import Any


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
