"""A cache of compiled library files, so that loading a trial library is fast after the first time.

Reading the free text of 100 CT.gov studies takes seconds; reading back their compiled trials takes tens of
milliseconds. An entry is keyed by everything the compiled result depends on, so it is never stale:

- the file's bytes and its path (the path is part of the result: ``source`` and the trial's ``origin``);
- the engine: a hash of every file of the package (source, grammar, data such as the ICD-10-CM index)
  but the service, worksheet, store and batch parts (an edited reader or lexicon, even without a version
  bump, compiles afresh);
- the vocabulary: a hash of its concepts, products and history codes.

Reading may also *derive* concepts (a condition read through ICD-10-CM becomes ``icd10cm:…`` in the
vocabulary on first mention). A trial from the cache was not read in this process, so its entry carries the
derived concepts its rules name, whole (codes, extent and why), and the vocabulary adopts them on the way
back: deriving them again would give the same concepts (the terminology is package data, so in the engine
hash) but costs seconds, because the closed-world test indexes every ICD-10-CM title. An entry that still
names a concept the vocabulary does not know is compiled afresh, never used.

Entries are JSON (pydantic validation on the way back, never pickle: a cache file cannot run code), written
atomically. The folder is ``$ELIGIBILITY_CACHE_DIR``, else ``$XDG_CACHE_HOME/eligibility``, else
``~/.cache/eligibility``; a cache that cannot be read or written is skipped, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from . import __version__
from . import nodes as n
from .concepts import Concept, Vocabulary
from .errors import InputError
from .io.files import read_bytes
from .library import LibraryTrial
from .usercache import cache_root


class _Entry(BaseModel):
    """One cached library file: its compiled trials and the derived concepts they name.

    ``derived`` once held only the displays (and the concepts were derived again, seconds of work): such an
    entry fails validation and is compiled afresh.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    trials: list[LibraryTrial]
    derived: list[Concept] = []


# Ids of the concepts reading derives (a condition read through ICD-10-CM, and its borderline).
_DERIVED_PREFIXES = ("icd10cm:", "icd10cm-edge:")
_NOT_ENGINE_SUFFIXES = (".pyc", ".pyo")
# Parts of the package that never change how a trial is compiled.
_NOT_ENGINE = ("service", "web", "store", "batch", "__pycache__")


def default_cache_dir() -> Path:
    """Where compiled trials are kept unless a folder is given: the project's one cache root."""
    return cache_root()


@cache
def engine_fingerprint() -> str:
    """A hash of the code and data that compile trials (computed once per process)."""
    package = Path(str(resources.files("eligibility")))
    roots = [package]
    checkout_grammars = package.parent / "grammars"
    if checkout_grammars.is_dir():
        roots.append(checkout_grammars)
    digest = hashlib.sha256(__version__.encode())
    for root in roots:
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if path.suffix in _NOT_ENGINE_SUFFIXES or any(part in _NOT_ENGINE for part in rel.parts):
                continue
            if path.is_file():
                digest.update(rel.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=8)
def vocabulary_fingerprint(vocabulary: Vocabulary) -> str:
    """A hash of what a vocabulary knows (concepts, products, history codes)."""
    payload = {
        "concepts": [c.model_dump(mode="json") for c in vocabulary.concepts.values()],
        "products": {k: v.model_dump(mode="json") for k, v in sorted(vocabulary.products.items())},
        "history": vocabulary.history.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


Compile = Callable[[], list[LibraryTrial]]


class TrialCache:
    """Compiled library files by content key; ``folder=None`` caches nothing."""

    def __init__(self, folder: Path | None, vocabulary: Vocabulary):
        self.folder = folder
        self.vocabulary = vocabulary
        self.hits = 0
        self.misses = 0

    @classmethod
    def open(cls, setting: str | Path | bool, vocabulary: Vocabulary) -> TrialCache:
        """``True``: the default folder; a path: that folder; ``False``: no cache."""
        if setting is False:
            return cls(None, vocabulary)
        folder = default_cache_dir() if setting is True else Path(setting)
        return cls(folder / "trials", vocabulary)

    def key(self, file: Path, content: bytes) -> str:
        digest = hashlib.sha256()
        for part in (engine_fingerprint(), vocabulary_fingerprint(self.vocabulary), str(file.resolve())):
            digest.update(part.encode() + b"\0")
        digest.update(content)
        return digest.hexdigest()

    def get_or_compile(self, file: Path, source: str, compile_: Compile) -> list[LibraryTrial]:
        """The compiled trials of ``file``: from the cache when its key matches, else compiled and stored."""
        if self.folder is None:
            return compile_()
        try:
            content = read_bytes(file)
        except InputError:
            return compile_()  # the compiler reports the unreadable file with its own message
        entry = self.folder / f"{self.key(file, content)}.json"
        cached = self._read(entry, source)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        compiled = compile_()
        self._write(entry, compiled)
        return compiled

    def _read(self, entry: Path, source: str) -> list[LibraryTrial] | None:
        try:
            found = _Entry.model_validate_json(entry.read_bytes())
        except (OSError, ValidationError, ValueError):
            return None
        # The key holds the resolved path; the library-relative name is checked too (a moved root).
        if not all(t.source == source for t in found.trials):
            return None
        adopt = getattr(self.vocabulary, "adopt_derived", None)
        derived = {
            c.id: c
            for c in found.derived
            if adopt is not None and c.id.startswith(_DERIVED_PREFIXES) and c.id not in self.vocabulary
        }
        needed = set(_named_concepts(found.trials)) | {b for c in derived.values() for b in c.borderline}
        if any(c not in self.vocabulary and c not in derived for c in needed):
            # Compiled afresh. Nothing is adopted first: a concept adopted without its borderline would stop
            # reading from deriving it again with that borderline (KeyError 'icd10cm-edge:...').
            return None
        for concept in derived.values():
            if adopt is not None:
                adopt(concept)
        return found.trials

    def _derived(self, trials: list[LibraryTrial]) -> list[Concept]:
        """The concepts the trials name that reading derived (not among the vocabulary's own)."""
        named = _named_concepts(trials)
        named |= {b for c in named if c in self.vocabulary for b in self.vocabulary[c].borderline}
        return [
            self.vocabulary[concept_id]
            for concept_id in sorted(named)
            if concept_id not in self.vocabulary.concepts and concept_id in self.vocabulary
        ]

    def _write(self, entry: Path, trials: list[LibraryTrial]) -> None:
        try:
            entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".json")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(_Entry(trials=trials, derived=self._derived(trials)).model_dump_json().encode())
            os.replace(tmp, entry)
        except OSError:
            Path(tmp).unlink(missing_ok=True)


def _named_concepts(trials: list[LibraryTrial]) -> set[str]:
    """Every concept id the trials' rules name."""
    return {c for entry in trials for criterion in entry.trial.criteria for c in n.named_concepts(criterion.rule)}
