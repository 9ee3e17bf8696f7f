"""What the worksheet is configured by, gathered from the server's settings, the data folder and the environment.

``eligibility serve --data DIR`` passes its own settings object; the worksheet reads the attributes it knows
(``database_url``, ``patients_dir``) from it when present, then ``DIR/worksheet.toml``, then the
environment (``ELIGIBILITY_DATABASE_URL``). Nothing here is required: the defaults are a SQLite file and a
``patients/`` folder inside the data folder.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ..errors import InputError


class WorksheetSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    data_dir: Path
    database_url: str | None = None
    patients_dir: Path
    """The configured folder of patient files (FHIR Bundles or native JSON) a coordinator can choose from."""
    session_hours: float = 12.0
    investigator_signature: bool = True
    """An eligible candidate's record also needs an investigator's signature before enrolment."""


def worksheet_settings(data_dir: Path, settings: object | None = None) -> WorksheetSettings:
    values: dict[str, object] = {}
    config = data_dir / "worksheet.toml"
    if config.is_file():
        try:
            values.update(tomllib.loads(config.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"cannot read: {exc}", str(config)) from None
    for key in ("database_url", "patients_dir"):
        given = getattr(settings, key, None)
        if given:
            values[key] = given
    if os.environ.get("ELIGIBILITY_DATABASE_URL"):
        values.setdefault("database_url", os.environ["ELIGIBILITY_DATABASE_URL"])
    patients = Path(str(values.pop("patients_dir", data_dir / "patients")))
    if not patients.is_absolute():
        patients = data_dir / patients
    try:
        return WorksheetSettings(data_dir=data_dir, patients_dir=patients, **values)
    except ValueError as exc:
        raise InputError(f"bad worksheet setting: {exc}", str(config)) from None
