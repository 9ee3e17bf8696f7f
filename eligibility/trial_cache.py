"""Compiled trials kept between processes: ``eligibility screen`` reads a trial's criteria once, not every run.

Reading the seed trial's rule file (the lexer's phrase alternations compiled per two-character prefix, the
Lark parse, units checked through pint) was about a quarter of ``eligibility screen``'s start-up CPU (issue 11:
under 1 s); read back from JSON, the compiled trial takes milliseconds. An entry's name is a hash of
everything the compiled trial depends on, so it is never stale, only unused:

- the engine: :func:`library_cache.engine_fingerprint`, every file of the package that compiles trials
  (reader, grammar, lexicon, vocabulary, the ICD-10-CM index), so an edited data file compiles afresh;
- how the file was named (the path as given is the trial's ``origin``) and its kind (rule file, CT.gov
  study, criteria text);
- the file's bytes.

Only the shipped vocabulary is cached for: a caller's own vocabulary compiles every time.

Reading may *derive* concepts (a condition read through ICD-10-CM becomes ``icd10cm:…`` in the vocabulary,
and a SNOMED CT record's text is matched against those too, even when no rule of the trial ends up naming
one). So that a trial from the cache leaves the vocabulary as reading it would, an entry holds every concept
its compile derived, and it is written only when the vocabulary had derived none before (otherwise a concept
an earlier trial derived would be missing from it). Reading an entry adopts them (one already there is left
as it is, which is what deriving it again would do); an entry naming a concept the vocabulary still does not
know is compiled afresh.

Entries are JSON validated by pydantic on the way back (a cache file cannot run code), in the start-up
cache folder (:func:`usercache.cache_folder`, sub-folder ``trials``): ``ELIGIBILITY_NO_CACHE=1`` turns it off,
and a folder or file that cannot be read or written is skipped, never an error. A compile that fails raises
as without a cache, and nothing is stored.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from . import nodes as n
from .concepts import Concept, Vocabulary, default_vocabulary
from .trial import Trial  # trial.py imports this module only inside load_trial, so no cycle at import
from .usercache import cache_folder, digest

__all__ = ["cached_trial"]


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    trial: Trial
    derived: list[Concept] = []


def cached_trial(path: Path, kind: str, vocabulary: Vocabulary, compile_: Callable[[], Trial]) -> Trial:
    """``compile_()``'s trial for the file at ``path`` (named as the caller named it), from the cache when an
    entry of the same engine, name, kind and bytes exists."""
    folder = cache_folder("trials") if vocabulary is default_vocabulary() else None
    if folder is None:
        return compile_()
    try:
        content = path.read_bytes()
    except OSError:
        return compile_()  # the compiler reports the unreadable file with its own message
    from .library_cache import engine_fingerprint

    entry = folder / f"{digest(engine_fingerprint(), kind, str(path), content)}.json"
    found = _read(entry, vocabulary)
    if found is not None:
        return found
    fresh = not vocabulary.derived
    before = set(vocabulary.derived)
    trial = compile_()
    if fresh:
        derived = [c for key, c in vocabulary.derived.items() if key not in before]
        _write(entry, _Entry(trial=trial, derived=derived))
    return trial


def _read(entry: Path, vocabulary: Vocabulary) -> Trial | None:
    try:
        found = _Entry.model_validate_json(entry.read_bytes())
    except (OSError, ValidationError, ValueError):
        return None
    for concept in found.derived:
        vocabulary.adopt_derived(concept)
    if any(c not in vocabulary for c in _named(found.trial)):
        return None
    return found.trial


def _named(trial: Trial) -> set[str]:
    """Every concept id the trial's rules name."""
    return {c for criterion in trial.criteria for c in n.named_concepts(criterion.rule)}


def _write(entry: Path, value: _Entry) -> None:
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(value.model_dump_json().encode("utf-8"))
        os.replace(tmp, entry)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
