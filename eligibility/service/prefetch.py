"""From a hook request's prefetch (and, for what is missing, the EHR's FHIR server) to a screenable chart.

Why four states and not "data or nothing": CDS Hooks 2.0 gives each prefetch key one of four meanings, and
soundness depends on telling them apart.

==================  ==========================================  =============================================
prefetch[key]       meaning                                     here
==================  ==========================================  =============================================
resource / Bundle   the data                                    used; a Bundle with a ``next`` link is paged
``null``            queried, nothing found                      closed world for that resource type
key absent          not attempted                               fetched from ``fhirServer`` with the token
OperationOutcome    tried and failed                            open world: absence is unknown, never "no"
==================  ==========================================  =============================================

Missing keys are fetched all at once (asyncio), each following ``next`` links on the same server, all
under one deadline; what does not arrive in time is "could not be obtained". The closed world (no record =
absent) is decided per record kind: conditions, drugs, procedures and allergies are each closed only when
every key they rest on (:data:`CLOSED_WORLD_KINDS`) was obtained in full; a kind that was not is screened
open world (a failed MedicationRequest search leaves conditions closed) and the card names what was missing. Only the
Patient itself is indispensable (:class:`PatientUnavailable` -> HTTP 412).

FHIR resources become a :class:`~eligibility.patient.Patient` through the core's one FHIR mapper
(:func:`eligibility.io.fhir.bundle_to_patient`), fed a collection Bundle of the resources cut down to what
the screening reads (:mod:`eligibility.service.lean_fhir`), each read by the fast check of
:mod:`eligibility.service.lean_read` when it is plainly valid and by ``fhir.resources`` otherwise (the same
Patient and the same refusals, at a quarter of the full read's CPU). A resource the mapper refuses (invalid
FHIR) is dropped and its resource type counts as not obtained, rather than failing the call. Nothing here
logs resources, ids or URLs with ids in them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from ..errors import InputError
from ..evaluate import OpenKind
from ..io.fhir import bundle_to_patient
from ..patient import Patient
from .fhir_auth import FhirAuthorization
from .lean_fhir import prune
from .lean_read import read

log = logging.getLogger("eligibility.service")

#: The discovery document's prefetch templates: generic, one search per resource type the screening reads,
#: using only a read, patient-scoped type searches and token equality (what CDS Hooks 2.0 asks clients to
#: support). They do not change with the library.
PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "labs": "Observation?patient={{context.patientId}}&category=laboratory",
    "vitals": "Observation?patient={{context.patientId}}&category=vital-signs",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
}

#: What each key is called on a card when it could not be obtained.
LABELS: dict[str, str] = {
    "patient": "demographics",
    "conditions": "conditions",
    "labs": "laboratory results",
    "vitals": "vital signs",
    "medicationRequests": "medication orders",
    "medicationStatements": "medication statements",
    "procedures": "procedures",
    "allergies": "allergies",
}

#: The record kind each key's closed world rests on ("no record of X" = absent). Labs and vitals are never
#: closed world; both medication keys feed the medication records, so either one missing opens them.
CLOSED_WORLD_KINDS: dict[str, OpenKind] = {
    "conditions": "condition",
    "medicationRequests": "medication",
    "medicationStatements": "medication",
    "procedures": "procedure",
    "allergies": "allergy",
}
CLOSED_WORLD_KEYS = frozenset(CLOSED_WORLD_KINDS)

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_ENTRY_FIELD = re.compile(r"entry\[(\d+)\]")

State = Literal["data", "empty", "fetched", "failed"]


class PatientUnavailable(Exception):
    """The Patient resource could not be obtained: the only case the hook answers 412."""


def valid_patient_id(value: object) -> bool:
    """A FHIR logical id (it is put into URLs, so nothing else is accepted)."""
    return isinstance(value, str) and _FHIR_ID.fullmatch(value) is not None


@dataclass(frozen=True)
class KeyResult:
    """One prefetch key's outcome. ``reason`` (failed only) is a short phrase without PHI."""

    key: str
    state: State
    resources: tuple[dict[str, Any], ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class Chart:
    """A patient ready to screen, the record kinds screened open world (not obtained in full), and what
    could not be obtained."""

    patient: Patient
    open_kinds: frozenset[OpenKind]
    results: Mapping[str, KeyResult]
    gaps: tuple[str, ...] = ()
    dropped: int = 0
    fetched: tuple[str, ...] = field(default=())

    @property
    def open_world(self) -> bool:
        """Whether any kind of record is screened open world."""
        return bool(self.open_kinds)


class FhirFetcher:
    """GETs against one FHIR base URL with the hook's bearer token; paging stays on that server."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base: str,
        token: str | None,
        max_pages: int,
        auth: FhirAuthorization | None = None,
    ):
        self.client = client
        self.base = base.rstrip("/")
        self.headers = {"Accept": "application/fhir+json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.max_pages = max_pages
        self.auth = auth

    def refusal(self, query: str) -> str | None:
        """Why this request is not sent with the hook's token (expired, or outside its scope), or None."""
        if self.auth is None:
            return None
        if self.auth.expired():
            return "the EHR's FHIR access token had expired, so it was not used"
        if not self.auth.covers(query):
            return "the EHR's FHIR access token does not grant this search (scope), so it was not asked"
        return None

    async def _get(self, url: str) -> dict[str, Any]:
        if not (url == self.base or url.startswith(self.base + "/") or url.startswith(self.base + "?")):
            raise _Failed("a page link pointed outside the FHIR server")  # the token is never sent elsewhere
        try:
            response = await self.client.get(url, headers=self.headers)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # A kept-alive connection the server closed meanwhile: a GET is safe to send once more.
            response = await self.client.get(url, headers=self.headers)
        if response.status_code == 404:
            raise _NotFound()
        if response.status_code != 200:
            raise _Failed(f"the FHIR server answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise _Failed("the FHIR server sent something that is not JSON") from None
        if not isinstance(body, dict):
            raise _Failed("the FHIR server sent something that is not a FHIR resource")
        if body.get("resourceType") == "OperationOutcome":
            raise _Failed("the FHIR server reported an error")
        return body

    async def read(self, query: str) -> dict[str, Any]:
        return await self._get(f"{self.base}/{query}")

    async def search(self, query: str, first: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every resource of a search, following ``next`` links (or continuing a Bundle the EHR sent)."""
        page = first if first is not None else await self._get(f"{self.base}/{query}")
        out: list[dict[str, Any]] = []
        for _ in range(self.max_pages):
            if page.get("resourceType") != "Bundle":
                raise _Failed("a search did not return a Bundle")
            out.extend(_bundle_resources(page))
            nxt = _next_link(page)
            if nxt is None:
                return out
            page = await self._get(nxt)
        raise _Failed(f"more than {self.max_pages} pages")


class _Failed(Exception):
    pass


class _NotFound(Exception):
    pass


def _bundle_resources(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for entry in bundle.get("entry") or ():
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue  # a server's note about the search, not a record
        if isinstance(resource, dict) and resource.get("resourceType") not in (None, "OperationOutcome"):
            out.append(resource)
    return out


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or ():
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


def _is_outcome(value: object) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


async def gather(
    prefetch: Mapping[str, Any] | None,
    patient_id: str,
    fetcher: FhirFetcher | None,
    deadline_seconds: float,
) -> tuple[dict[str, Any] | None, dict[str, KeyResult]]:
    """The Patient resource (or None) and every template key's :class:`KeyResult`."""
    given: Mapping[str, Any] = prefetch or {}
    results: dict[str, KeyResult] = {}
    patient: dict[str, Any] | None = None
    jobs: dict[str, asyncio.Task[KeyResult]] = {}

    def query_of(key: str) -> str:
        return PREFETCH[key].replace("{{context.patientId}}", patient_id)

    def schedule(key: str, first: dict[str, Any] | None = None) -> None:
        """Fetch a key, unless the token may not be used for it (then it is not obtained)."""
        assert fetcher is not None
        refused = fetcher.refusal(query_of(key))
        if refused is not None:
            results[key] = KeyResult(key, "failed", reason=refused)
        else:
            jobs[key] = asyncio.create_task(fetch(key, first))

    async def fetch(key: str, first: dict[str, Any] | None = None) -> KeyResult:
        assert fetcher is not None
        query = query_of(key)
        try:
            if key == "patient":
                return KeyResult(key, "fetched", (await fetcher.read(query),))
            return KeyResult(key, "fetched", tuple(await fetcher.search(query, first)))
        except _NotFound:
            if key == "patient":
                return KeyResult(key, "failed", reason="the FHIR server has no such patient")
            return KeyResult(key, "failed", reason="the FHIR server does not offer this search")
        except _Failed as exc:
            return KeyResult(key, "failed", reason=str(exc))
        except httpx.TimeoutException:
            return KeyResult(key, "failed", reason="the FHIR server did not answer in time")
        except httpx.HTTPError as exc:
            return KeyResult(key, "failed", reason=f"the FHIR server could not be reached ({type(exc).__name__})")

    for key in PREFETCH:
        if key not in given:
            if fetcher is None:
                results[key] = KeyResult(key, "failed", reason="not sent, and no FHIR server to ask")
            else:
                schedule(key)
            continue
        value = given[key]
        if value is None:
            results[key] = KeyResult(key, "empty")
        elif _is_outcome(value) and key == "patient" and fetcher is not None:
            schedule(key)  # the one resource worth a second try
        elif _is_outcome(value):
            results[key] = KeyResult(key, "failed", reason="the EHR could not provide it")
        elif not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            results[key] = KeyResult(key, "failed", reason="the EHR sent something that is not a FHIR resource")
        elif value["resourceType"] == "Bundle":
            if _next_link(value) is None:
                results[key] = KeyResult(key, "data", tuple(_bundle_resources(value)))
            elif fetcher is None:
                results[key] = KeyResult(key, "failed", reason="only the first page was sent, and no FHIR server")
            else:
                schedule(key, first=value)
        else:
            results[key] = KeyResult(key, "data", (value,))

    if jobs:
        done, pending = await asyncio.wait(jobs.values(), timeout=deadline_seconds)
        for task in pending:
            task.cancel()
        for key, task in jobs.items():
            if task in done and not task.cancelled() and task.exception() is None:
                results[key] = task.result()
            elif task in done and task.exception() is not None:
                results[key] = KeyResult(key, "failed", reason=f"fetching failed ({type(task.exception()).__name__})")
            else:
                results[key] = KeyResult(key, "failed", reason="the FHIR server did not answer in time")
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    got = results["patient"]
    candidates = [r for r in got.resources if r.get("resourceType") == "Patient"]
    if got.state != "empty" and len(candidates) == 1 and candidates[0].get("id") == patient_id:
        patient = candidates[0]
    return patient, {k: results[k] for k in PREFETCH}


def to_chart(patient_resource: dict[str, Any] | None, results: Mapping[str, KeyResult], patient_id: str) -> Chart:
    """Map what was obtained to a Patient (through the core's FHIR mapper) and decide the world."""
    if patient_resource is None:
        raise PatientUnavailable()
    seen: set[tuple[str, str]] = set()
    entries: list[dict[str, Any]] = [{"resource": prune(patient_resource)}]
    entry_key: list[str] = ["patient"]
    for key, result in results.items():
        if key == "patient":
            continue
        for resource in result.resources:
            rtype, rid = resource.get("resourceType"), resource.get("id")
            if rtype == "Patient":
                continue
            if isinstance(rid, str):
                if (str(rtype), rid) in seen:
                    continue
                seen.add((str(rtype), rid))
            entries.append({"resource": prune(resource)})  # validated as far as the screening reads it
            entry_key.append(key)
    broken: set[str] = set()
    dropped = 0
    while True:
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
        try:
            patient = bundle_to_patient(bundle, origin="hook prefetch", default_id=patient_id, reader=read)
            break
        except InputError as exc:
            where = _ENTRY_FIELD.match(exc.field or "")
            index = int(where.group(1)) if where else -1
            if index <= 0 or dropped >= 100:  # the Patient itself, or a document-level problem
                raise PatientUnavailable() from None
            broken.add(entry_key[index])
            del entries[index]
            del entry_key[index]
            dropped += 1
    gaps = []
    for key, result in results.items():
        if result.state == "failed":
            gaps.append(f"{LABELS[key]} could not be obtained: {result.reason}")
        elif key in broken:
            gaps.append(f"some {LABELS[key]} were not valid FHIR and were left out")
    unavailable = {k for k, r in results.items() if r.state == "failed"} | broken
    open_kinds = frozenset(CLOSED_WORLD_KINDS[k] for k in unavailable if k in CLOSED_WORLD_KINDS)
    fetched = tuple(k for k, r in results.items() if r.state == "fetched")
    return Chart(patient, open_kinds, dict(results), tuple(gaps), dropped, fetched)


async def obtain_chart(
    prefetch: Mapping[str, Any] | None,
    patient_id: str,
    fetcher: FhirFetcher | None,
    deadline_seconds: float,
) -> Chart:
    """:func:`gather` then :func:`to_chart`; logs only counts and timings."""
    start = time.perf_counter()
    patient, results = await gather(prefetch, patient_id, fetcher, deadline_seconds)
    # Mapping is CPU work (FHIR validation); off the event loop, other calls' fetches keep moving.
    chart = await asyncio.to_thread(to_chart, patient, results, patient_id)
    log.info(
        "chart obtained: %d keys fetched, %d failed, open_world=%s, %d invalid resources dropped, %.0f ms",
        len(chart.fetched),
        sum(1 for r in results.values() if r.state == "failed"),
        chart.open_world,
        chart.dropped,
        (time.perf_counter() - start) * 1000,
    )
    return chart
