"""The FHIR fallback against a real FHIR server: Medplum's in-memory router (tests/fhir_server) with Synthea.

The hook call sends no prefetch (or only part of it); the service fetches the rest from the server with the
bearer token, page by page (the server pages every 20 resources). What arrives must be exactly what the
Synthea bundle holds for the templates' searches, and the verdicts must equal screening that same data read
straight from the bundle by the core's FHIR mapper.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eligibility.io.fhir import bundle_to_patient
from eligibility.library import TrialLibrary

from .card_rules import response_problems
from .conftest import Key, Running, make_token

SERVER_DIR = Path(__file__).resolve().parents[1] / "fhir_server"
SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir" / "synthea-195"
BUNDLES = (  # small, medium (with an allergy), and one with many labs: all page at 20
    "Clemente_Kreiger_1484a42d-0eaf-4654-9cbf-6b050a5cd73b.json.gz",
    "Adolfo_Marquardt_50635536-8051-4085-bfd4-511a05062ac2.json.gz",
    "Cathryn_Windler_5b477e00-ba36-4786-b672-a2816b3b9149.json.gz",
)
TOKEN = "medplum-test-token-4417"
PAGE = 20

# template key -> (resource type, Observation category or None)
SEARCHES = {
    "conditions": ("Condition", None),
    "labs": ("Observation", "laboratory"),
    "vitals": ("Observation", "vital-signs"),
    "medicationRequests": ("MedicationRequest", None),
    "medicationStatements": ("MedicationStatement", None),
    "procedures": ("Procedure", None),
    "allergies": ("AllergyIntolerance", None),
}


def _categories(resource: dict[str, Any]) -> set[str]:
    return {c.get("code") for cat in resource.get("category", []) for c in cat.get("coding", [])}


def _wanted(resource: dict[str, Any]) -> str | None:
    for key, (rtype, category) in SEARCHES.items():
        if resource.get("resourceType") == rtype and (category is None or category in _categories(resource)):
            return key
    return None


def _load(name: str) -> dict[str, Any]:
    with gzip.open(SYNTHEA / name, "rt", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


@pytest.fixture(scope="module")
def medplum() -> Iterator[tuple[str, dict[str, dict[str, Any]]]]:
    """(FHIR base URL, patient id -> Synthea bundle) for a running Medplum in-memory server."""
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed: the Medplum FHIR server cannot run")
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        pytest.skip("tests/fhir_server/node_modules missing: run `npm ci` in tests/fhir_server")
    if not SYNTHEA.is_dir():
        pytest.skip("../shared/data/fhir/synthea-195 is not beside this checkout")
    files = [str(SYNTHEA / name) for name in BUNDLES]
    proc = subprocess.Popen(
        [node, "server.mjs", "--token", TOKEN, "--page-size", str(PAGE), *files],
        cwd=SERVER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the server prints one line when it listens
        if not line:
            raise RuntimeError(f"the Medplum server did not start: {proc.stderr.read() if proc.stderr else ''}")
        port = json.loads(line)["port"]
        bundles = {}
        for name in BUNDLES:
            bundle = _load(name)
            [patient] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
            bundles[patient["id"]] = bundle
        yield f"http://127.0.0.1:{port}/fhir", bundles
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def medplum_service(service_factory: Any, medplum: tuple[str, Any], jwks_urls: dict[str, str]) -> Running:
    from eligibility.service.settings import TrustedIssuer

    from .conftest import ISS

    issuer = TrustedIssuer(iss=ISS, jwks=jwks_urls["jwks"], fhir_servers=(medplum[0],))
    running: Running = service_factory(
        issuers=(issuer,), fhir_deadline_seconds=60.0
    )  # the in-memory server scans every resource per search; the machine is shared
    return running


def _hook(client: httpx.Client, running: Running, key: Key, body: dict[str, Any]) -> httpx.Response:
    token = make_token(key, running.hook_url)
    return client.post(running.hook_url, json=body, headers={"Authorization": f"Bearer {token}"})


def _last_audit(running: Running) -> dict[str, Any]:
    assert running.settings.state_dir is not None
    line: dict[str, Any] = json.loads((running.settings.state_dir / "audit.jsonl").read_text().splitlines()[-1])
    return line


def _expected(bundle: dict[str, Any], library: TrialLibrary) -> tuple[dict[str, int], dict[str, int], dict[str, str]]:
    """Resources per template key, mapped records, and the verdicts of the trials that fit, from the bundle."""
    counts = dict.fromkeys(SEARCHES, 0)
    entries = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        key = _wanted(resource)
        if resource["resourceType"] == "Patient" or key is not None:
            entries.append({"fullUrl": entry["fullUrl"], "resource": resource})  # urn:uuid subjects resolve
        if key is not None:
            counts[key] += 1
    patient = bundle_to_patient({"resourceType": "Bundle", "type": "collection", "entry": entries})
    records = {
        "observations": len(patient.observations),
        "conditions": len(patient.conditions),
        "medications": len(patient.medications),
        "procedures": len(patient.procedures),
        "allergies": len(patient.allergies),
    }
    matches = library.match(patient)
    fitting: dict[str, str] = {m.trial: m.verdict for m in matches if m.verdict != "ineligible"}
    return counts, records, fitting


def test_everything_fetched_and_paged_from_medplum(
    medplum: tuple[str, dict[str, dict[str, Any]]],
    medplum_service: Running,
    client: httpx.Client,
    keys: dict[str, Key],
    library: TrialLibrary,
) -> None:
    base, bundles = medplum
    paged = 0
    for pid, bundle in bundles.items():
        body = {
            "hook": "patient-view",
            "hookInstance": f"hi-{pid}",
            "fhirServer": base,
            "fhirAuthorization": {
                "access_token": TOKEN,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.read",
                "subject": "svc",
            },
            "context": {"userId": "Practitioner/prac-3", "patientId": pid},
        }
        response = _hook(client, medplum_service, keys["es"], body)
        assert response.status_code == 200, response.text
        assert response_problems(response.json()) == []
        audit = _last_audit(medplum_service)
        counts, records, fitting = _expected(bundle, library)
        assert audit["unavailable"] == [] and audit["open_world"] == []
        assert {k: audit["resources"][k] for k in SEARCHES} == counts, pid
        assert audit["records"] == records and records["observations"] > PAGE, pid  # none lost as strays
        assert audit["resources"]["patient"] == 1
        assert {t["id"]: t["verdict"] for t in audit["trials"]} == fitting
        paged += any(n > PAGE for n in counts.values())
        if response.json()["cards"]:
            assert "incomplete" not in response.json()["cards"][0]["summary"]
    assert paged >= 2  # most of these charts needed more than one page for some search


def test_partial_prefetch_is_completed_from_medplum(
    medplum: tuple[str, dict[str, dict[str, Any]]],
    medplum_service: Running,
    client: httpx.Client,
    keys: dict[str, Key],
) -> None:
    base, bundles = medplum
    pid, bundle = next(iter(bundles.items()))
    [patient] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    body = {
        "hook": "patient-view",
        "hookInstance": "hi-partial",
        "fhirServer": base,
        "fhirAuthorization": {"access_token": TOKEN, "token_type": "Bearer"},
        "context": {"userId": "Practitioner/prac-3", "patientId": pid},
        "prefetch": {
            "patient": patient,
            "conditions": None,
            "procedures": {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]},
        },
    }
    response = _hook(client, medplum_service, keys["es"], body)
    assert response.status_code == 200
    audit = _last_audit(medplum_service)
    assert audit["unavailable"] == ["procedures"] and audit["open_world"] == ["procedure"]
    assert audit["resources"]["conditions"] == 0  # null: the EHR's word, not re-fetched
    assert audit["resources"]["labs"] == sum(1 for e in bundle["entry"] if _wanted(e["resource"]) == "labs")


def test_medplum_refusals(
    medplum: tuple[str, dict[str, dict[str, Any]]],
    medplum_service: Running,
    client: httpx.Client,
    keys: dict[str, Key],
) -> None:
    base, bundles = medplum
    pid = next(iter(bundles))
    unknown = {
        "hook": "patient-view",
        "hookInstance": "hi-x",
        "fhirServer": base,
        "fhirAuthorization": {"access_token": TOKEN, "token_type": "Bearer"},
        "context": {"userId": "Practitioner/prac-3", "patientId": "no-such-patient"},
    }
    assert _hook(client, medplum_service, keys["es"], unknown).status_code == 412
    wrong_token = {
        **unknown,
        "context": {"patientId": pid},
        "fhirAuthorization": {"access_token": "wrong", "token_type": "Bearer"},
    }
    assert _hook(client, medplum_service, keys["es"], wrong_token).status_code == 412  # the server said 401
