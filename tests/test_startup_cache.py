"""The start-up cache (eligibility.usercache): never stale, never required, never a different result."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lark import Token

from eligibility.data import load_yaml
from eligibility.parse import build_parser, grammar_text
from eligibility.units.quantities import _build_registry
from eligibility.usercache import cache_folder, cached_json

from .fresh_process import cache_env, run_cli


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ELIGIBILITY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ELIGIBILITY_NO_CACHE", raising=False)
    return tmp_path / "cache" / "startup"


def _entries(folder: Path, prefix: str) -> list[Path]:
    return sorted(p for p in folder.glob(f"{prefix}-*") if not p.name.startswith("."))


_TOY = "start: WORD+\n%declare WORD\n"


def _words(n: int) -> list[Token]:
    return [Token("WORD", f"w{i}", start_pos=i, end_pos=i + 1) for i in range(n)]


def test_a_changed_grammar_never_reuses_the_old_table(cache_dir: Path) -> None:
    old = build_parser(_TOY)
    assert len(_entries(cache_dir, "grammar")) == 1
    assert build_parser(_TOY).parse(_words(2)) == old.parse(_words(2))  # read back: same tree
    changed = _TOY.replace("WORD+", "WORD WORD")  # exactly two words now
    new = build_parser(changed)
    assert len(_entries(cache_dir, "grammar")) == 2
    assert len(new.parse(_words(2)).children) == 2
    with pytest.raises(Exception, match="Unexpected"):
        new.parse(_words(3))
    assert len(old.parse(_words(3)).children) == 3


def test_the_real_grammar_from_the_cache_parses_like_a_fresh_build(cache_dir: Path) -> None:
    from eligibility.parse import tokenize

    tokens = tokenize("Age >= 18 years")
    fresh = build_parser(grammar_text())  # builds and writes
    cached = build_parser(grammar_text())  # reads back
    assert len(_entries(cache_dir, "grammar")) == 1
    assert cached.parse(tokens) == fresh.parse(tokens)


def test_a_corrupt_entry_is_rebuilt_and_overwritten(cache_dir: Path) -> None:
    build_parser(_TOY)
    (entry,) = _entries(cache_dir, "grammar")
    entry.write_bytes(b"not a pickle")
    assert len(build_parser(_TOY).parse(_words(3)).children) == 3
    assert entry.read_bytes() != b"not a pickle"
    assert cached_json("x", "k", lambda: {"a": [1, 2.5, None, True]}) == {"a": [1, 2.5, None, True]}
    (cache_dir / "x-k.json").write_text("{truncated")
    assert cached_json("x", "k", lambda: {"b": 1}) == {"b": 1}


def test_a_changed_yaml_document_is_parsed_again(cache_dir: Path) -> None:
    assert load_yaml("a: 1\nb: [x, y]\n") == {"a": 1, "b": ["x", "y"]}
    assert load_yaml("a: 1\nb: [x, y]\n") == {"a": 1, "b": ["x", "y"]}  # from the cache
    assert load_yaml("a: 2\nb: [x, y]\n") == {"a": 2, "b": ["x", "y"]}
    assert len(_entries(cache_dir, "yaml")) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("d: 2024-01-02\n", "date"),  # JSON would give a string back
        ("1: one\n", "int key"),  # JSON would give the key '1'
        ("s: !!set {a}\n", "set"),
    ],
)
def test_a_document_json_cannot_give_back_exactly_is_not_cached(cache_dir: Path, text: str, expected: str) -> None:
    first, second = load_yaml(text), load_yaml(text)
    assert first == second
    assert type(next(iter(first))) is type(next(iter(second)))
    assert _entries(cache_dir, "yaml") == [], expected


def test_an_unusable_cache_folder_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("ELIGIBILITY_CACHE_DIR", str(blocker / "below-a-file"))  # cannot be created
    monkeypatch.delenv("ELIGIBILITY_NO_CACHE", raising=False)
    assert cache_folder() is None
    assert len(build_parser(_TOY).parse(_words(2)).children) == 2
    assert load_yaml("a: 1\n") == {"a": 1}
    shared = tmp_path / "shared"
    (shared / "startup").mkdir(parents=True)
    os.chmod(shared / "startup", 0o777)  # others could plant a pickle: not used
    monkeypatch.setenv("ELIGIBILITY_CACHE_DIR", str(shared))
    assert cache_folder() is None
    monkeypatch.setenv("ELIGIBILITY_CACHE_DIR", str(tmp_path / "fine"))
    monkeypatch.setenv("ELIGIBILITY_NO_CACHE", "1")
    assert cache_folder() is None


def test_the_unit_registry_from_pint_s_cache_converts_alike(cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True)
    fresh, cached, plain = _build_registry(cache_dir), _build_registry(cache_dir), _build_registry(None)
    assert any(cache_dir.iterdir())
    for reg in (fresh, cached):
        for src, dst in (
            ("1e9/liter", "1/microliter"),
            ("mg/dL", "g/L"),
            ("international_unit/L", "international_unit/mL"),
        ):
            assert reg.Quantity(src).to(dst).magnitude == plain.Quantity(src).to(dst).magnitude


def test_parse_output_is_byte_identical_with_and_without_the_cache(tmp_path: Path) -> None:
    args = ("parse", "--format", "json", "rules/NCT06352281.yaml")
    without = run_cli(cache_env(None), *args)
    cold = run_cli(cache_env(tmp_path / "c"), *args)
    assert (tmp_path / "c" / "startup").is_dir() and any((tmp_path / "c" / "startup").iterdir())
    warm = run_cli(cache_env(tmp_path / "c"), *args)
    assert without == cold == warm
    assert without.count(b'"id"') > 10
