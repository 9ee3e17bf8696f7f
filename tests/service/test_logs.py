"""No PHI, tokens or prefetch content in logs, error bodies or the audit trail.

Every log record of the process is captured at DEBUG (the server runs in a thread of this process) while
the service answers a prefetch call, a FHIR-fallback call with a bearer token, a refused token, a 412, a
feedback with a comment naming the patient, and a call whose screening raises an exception quoting the
patient; then the captured text, the response bodies and the audit file are searched for the test
patient's name, identifiers, birth date, id and the tokens.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import httpx
import pytest

from eligibility.library import Match, TrialLibrary
from eligibility.patient import Patient

from .conftest import (
    PATIENT_ID,
    Key,
    LocalHttp,
    Route,
    Running,
    empty_prefetch,
    hook_body,
    make_token,
    patient_resource,
    searchset,
)

FHIR_TOKEN = "fhir-access-9c1e77d2"


class ExplodingLibrary(TrialLibrary):
    """A library whose screening fails with a message quoting the patient (as a careless bug might)."""

    def match(
        self,
        patient: Patient,
        *,
        as_of: date | None = None,
        open_world: bool = False,
        trial_ids: Any = None,
        open_kinds: Any = (),
    ) -> list[Match]:
        raise RuntimeError(f"cannot screen {patient.id} born {patient.birth_date}")


def test_nothing_identifying_is_logged(
    service_factory: Any,
    client: httpx.Client,
    keys: dict[str, Key],
    local_http: LocalHttp,
    library: TrialLibrary,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    service: Running = service_factory()
    exploding: Running = service_factory(ExplodingLibrary(library.trials))
    fhir = local_http.base + "/fhir"
    local_http.routes.update(
        {
            f"/fhir/Patient/{PATIENT_ID}": Route(body=patient_resource()),
            "/fhir/Condition": Route(
                500,
                {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "exception", "diagnostics": "Maribeth Quintrell"}],
                },
            ),
            "/fhir/Observation": Route(body=searchset()),
        }
    )
    tokens: list[str] = []
    bodies: list[str] = []

    def post(running: Running, body: dict[str, Any], url: str | None = None, **token_args: Any) -> httpx.Response:
        token = make_token(keys["es"], url or running.hook_url, **token_args)
        tokens.append(token)
        response = client.post(url or running.hook_url, json=body, headers={"Authorization": f"Bearer {token}"})
        if response.status_code != 200:
            bodies.append(response.text)  # error bodies; a card for the EHR may speak of its own patient
        return response

    ok = post(service, hook_body(empty_prefetch()))
    assert ok.status_code == 200
    fallback = hook_body(None, fhirServer=fhir, fhirAuthorization={"access_token": FHIR_TOKEN, "token_type": "Bearer"})
    assert post(service, fallback).status_code == 200
    assert post(service, hook_body(empty_prefetch()), iss="https://stranger.example").status_code == 401
    assert post(service, hook_body({"patient": None})).status_code == 412
    card = ok.json()["cards"][0]["uuid"]
    feedback = {
        "feedback": [
            {
                "card": card,
                "outcome": "overridden",
                "overrideReason": {"reason": {"code": "not-interested"}, "userComment": "Maribeth Quintrell MRN-55012"},
                "outcomeTimestamp": "2026-12-02T01:00:00Z",
            }
        ]
    }
    assert post(service, feedback, url=service.feedback_url).json() == {"stored": 1}
    crashed = post(exploding, hook_body(empty_prefetch()))
    assert crashed.status_code == 500 and crashed.content == b""

    logged = caplog.text
    assert "POST /cds-services/trial-eligibility" in logged  # the capture did see the server's logs
    assert "internal error (RuntimeError)" in logged
    assert service.settings.state_dir is not None
    audit = (service.settings.state_dir / "audit.jsonl").read_text()
    secrets = ["Maribeth", "Quintrell", "MRN-55012", "1975-04-02", PATIENT_ID, FHIR_TOKEN, *tokens]
    for where, text in (("logs", logged), ("audit", audit), *(("response", b) for b in bodies)):
        for secret in secrets:
            assert secret not in text, f"{secret[:12]}... appears in the {where}"
