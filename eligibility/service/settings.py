"""The service's settings: one frozen model, from the command line and/or a TOML file (``--config``).

Why a model and not loose options: the app, the token verifier and the FHIR client all read the same
settings, and a typo in an integrator's config file must fail at start-up naming the file and the field,
not at the first hook call. The file format (see README, "Integrators"):

.. code-block:: toml

    [service]
    public_url = "https://cds.example.org"      # the base URL EHRs call (JWT aud = public_url + path)
    worksheet_url = "https://cds.example.org"   # where card links point (optional)
    smart_launch_url = "https://cds.example.org/launch"  # SMART launch of the worksheet (optional)
    cors_origins = ["https://sandbox.cds-hooks.org"]
    state_dir = "/var/lib/eligibility"          # feedback database + audit trail
    fhir_deadline_seconds = 4.0
    override_suppress_days = 30

    [[issuers]]
    iss = "https://ehr.example.org"
    jwks = "https://ehr.example.org/.well-known/jwks.json"   # or a file path
    jku = []                                                # key-set URLs a token may name in its header
    fhir_servers = ["https://ehr.example.org/fhir"]         # fhirServer values accepted from this issuer
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import InputError

DEFAULT_SERVICE_ID = "trial-eligibility"


class TrustedIssuer(BaseModel):
    """An EHR (token issuer) the service accepts calls from, and what it may name."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    iss: str
    jwks: str = Field(description="The issuer's key set: a JWKS file path or an https URL.")
    jku: tuple[str, ...] = Field(
        default=(), description="Key-set URLs a token header may name in `jku`; any other jku is refused."
    )
    fhir_servers: tuple[str, ...] = Field(
        default=(), description="FHIR base URLs this issuer may send as fhirServer (the token is only sent there)."
    )

    @field_validator("iss", "jwks")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("jku", "fhir_servers")
    @classmethod
    def _strip_slash(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.rstrip("/") for v in value)


class ServiceSettings(BaseModel):
    """Everything `eligibility serve` and :func:`~eligibility.service.app.create_app` are configured by."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    service_id: str = DEFAULT_SERVICE_ID
    issuers: tuple[TrustedIssuer, ...] = ()
    public_url: str | None = Field(
        default=None,
        description="Base URL as EHRs call it (behind a proxy). Unset: the URL of the request itself.",
    )
    worksheet_url: str | None = None
    smart_launch_url: str | None = Field(
        default=None,
        description="The worksheet's SMART app launch URL; set, each card also carries a 'smart' link per trial.",
    )
    cors_origins: tuple[str, ...] = ()
    state_dir: Path | None = Field(
        default=None, description="Folder for feedback.sqlite3, audit.jsonl and the hashing key; unset: in memory."
    )
    dev: bool = Field(default=False, description="Allow plain-http FHIR servers and key-set URLs on loopback.")
    clock_skew_seconds: int = Field(default=60, ge=0, le=300)
    max_token_lifetime_seconds: int = Field(
        default=600, ge=60, description="exp - iat above this is refused (CDS Hooks asks for 5 minutes at most)."
    )
    fhir_deadline_seconds: float = Field(default=4.0, gt=0, le=60)
    fhir_max_pages: int = Field(default=50, ge=1)
    jwks_cache_seconds: int = Field(default=300, ge=0)
    override_suppress_days: int = Field(default=30, ge=0)
    max_trials_in_card: int = Field(default=5, ge=1, le=50)
    max_questions_per_trial: int = Field(default=3, ge=0, le=20)

    def issuer(self, iss: str) -> TrustedIssuer | None:
        for trusted in self.issuers:
            if trusted.iss == iss:
                return trusted
        return None


def parse_trusted_issuer(value: str) -> TrustedIssuer:
    """``ISS=JWKS`` from the command line (split at the first ``=``; the key set may hold ``=``)."""
    iss, sep, jwks = value.partition("=")
    if not sep or not iss.strip() or not jwks.strip():
        raise InputError(f"expected ISS=JWKS, got {value!r}", "--trusted-issuer")
    return TrustedIssuer(iss=iss, jwks=jwks)


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a service TOML file into ServiceSettings fields; errors name the file and the field."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such file", str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", str(p)) from None
    unknown = set(data) - {"service", "issuers"}
    if unknown:
        raise InputError(f"unknown section(s): {', '.join(sorted(unknown))}", str(p), sorted(unknown)[0])
    fields: dict[str, Any] = dict(data.get("service", {}))
    if "state_dir" in fields:
        fields["state_dir"] = (p.parent / str(fields["state_dir"])).resolve()
    issuers = []
    for index, raw in enumerate(data.get("issuers", [])):
        if isinstance(raw, dict) and isinstance(raw.get("jwks"), str) and "://" not in raw["jwks"]:
            raw = {**raw, "jwks": str((p.parent / raw["jwks"]).resolve())}  # relative to the config file
        try:
            issuers.append(TrustedIssuer.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(x) for x in first["loc"])
            raise InputError(first["msg"], str(p), f"issuers[{index}]" + (f".{loc}" if loc else "")) from None
    fields["issuers"] = tuple(issuers)
    try:
        ServiceSettings.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(first["msg"], str(p), "service." + ".".join(str(x) for x in first["loc"])) from None
    return fields


def build_settings(config: Path | None = None, **overrides: Any) -> ServiceSettings:
    """Config file first, then command-line values (issuers add up; other set values replace)."""
    fields: dict[str, Any] = load_config(config) if config is not None else {}
    extra_issuers = tuple(overrides.pop("issuers", ()))
    fields["issuers"] = tuple(fields.get("issuers", ())) + extra_issuers
    for key, value in overrides.items():
        if value is not None and value != ():
            fields[key] = value
    return ServiceSettings.model_validate(fields)
