"""FHIR Bulk Data (NDJSON) registries: detection and loading straight into DuckDB (see load_fhir_bulk)."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .registry import Registry


def is_fhir_bulk(directory: str | Path) -> bool:
    """A folder holding Patient*.ndjson is read as a FHIR Bulk Data export."""
    path = Path(directory)
    return path.is_dir() and any(path.glob("Patient*.ndjson"))


def load_fhir_bulk(directory: str | Path) -> Registry:
    raise InputError("FHIR Bulk NDJSON registries are not supported yet", str(directory))
