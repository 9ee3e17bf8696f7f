"""Package data: vocabularies, word lists, unit aliases, reference ranges (YAML), read by the modules that use them."""

from __future__ import annotations

from typing import Any


def load_yaml(text: str) -> Any:
    """A package data file's YAML, through libyaml's C loader where it is built (about 7x faster on
    concepts.yaml: start-up time), else the pure-Python one. Both are the safe loader: same result."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)
