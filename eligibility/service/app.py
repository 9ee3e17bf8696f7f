"""The CDS Hooks 2.0 service as an ASGI app: discovery, the ``patient-view`` hook and its feedback.

Why a factory (:func:`create_app`) and not a module-level app: integrators embed the service in their own
ASGI stack with their own settings and library, and tests start several differently configured servers.

The order inside a hook call says what the service promises: verify the token first (every failure is a
bare 401; nothing of the body is read before), then check the hook and ``context.patientId``, obtain the
chart (prefetch, then the FHIR server for what is missing; 412 only when the Patient itself cannot be had),
screen against the library minus the trials a clinician dismissed for this patient, answer with cards, and
append an audit line. Nothing the EHR sent is logged; an unexpected exception is logged by its type alone
and answered 500 with an empty body (:class:`_QuietErrors`), since tracebacks and validation messages can
carry chart content.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..library import TrialLibrary
from .audit import AuditTrail, Hasher, card_digest
from .cards import CardOptions, build_cards
from .feedback import FeedbackStore
from .fhir_auth import FhirAuthorization
from .prefetch import PREFETCH, FhirFetcher, PatientUnavailable, obtain_chart, valid_patient_id
from .security import AuthError, Caller, TokenVerifier, url_allowed
from .settings import ServiceSettings

log = logging.getLogger("eligibility.service")

HOOK = "patient-view"
_NON_CLINICIAN_USERS = ("Patient/", "RelatedPerson/")


class _QuietErrors:
    """Outermost ASGI layer: an exception escaping the app becomes a bare 500 and a one-line log.

    Starlette's own error middleware re-raises after answering, so the server would log the traceback
    (and its messages, which may quote the request). This layer swallows it instead.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error("internal error (%s) on %s %s", type(exc).__name__, scope.get("method"), scope.get("path"))
            if not started:
                await send({"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})


def _unauthorized() -> Response:
    return Response(status_code=401)


def _bad_request(message: str) -> JSONResponse:
    """A 400 whose message is one of ours, never an echo of the request."""
    return JSONResponse({"error": message}, status_code=400)


def _audience(request: Request, settings: ServiceSettings) -> str:
    """The exact URL the EHR called (``public_url`` + path behind a proxy); the JWT ``aud`` must equal it."""
    if settings.public_url:
        return settings.public_url.rstrip("/") + request.url.path
    return f"{request.url.scheme}://{request.url.netloc}{request.url.path}"


def discovery(settings: ServiceSettings) -> dict[str, Any]:
    return {
        "services": [
            {
                "hook": HOOK,
                "id": settings.service_id,
                "title": "Clinical trial pre-screen",
                "description": (
                    "Which trials of the library this patient may fit, why, and the questions that would "
                    "settle the rest. Missing chart data gives unknowns, never a confident no."
                ),
                "prefetch": dict(PREFETCH),
            }
        ]
    }


def create_app(settings: ServiceSettings, library: TrialLibrary) -> FastAPI:
    """The service for ``settings`` and a loaded library (see the module docstring)."""
    if settings.state_dir is not None:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
    verifier = TokenVerifier(settings)
    store = FeedbackStore(settings.state_dir / "feedback.sqlite3" if settings.state_dir else None)
    audit = AuditTrail(settings.state_dir)
    hasher = Hasher(settings.state_dir)
    card_options = CardOptions(
        settings.worksheet_url,
        settings.max_trials_in_card,
        settings.max_questions_per_trial,
        settings.smart_launch_url,
    )
    # httpx logs every request URL at INFO, and FHIR search URLs carry the patient id.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    clients: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        clients["fhir"] = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.fhir_deadline_seconds),
            follow_redirects=False,
            # idle connections are dropped before servers' usual 5 s keep-alive timeout closes them under us
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=2.0),
        )
        try:
            yield
        finally:
            await clients.pop("fhir").aclose()
            store.close()
            verifier.replay.close()

    app = FastAPI(
        title="eligibility CDS Hooks service",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.library = library
    app.state.feedback = store
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )

    async def caller(request: Request) -> Caller | None:
        try:
            return await verifier.verify(request.headers.get("authorization"), _audience(request, settings))
        except AuthError as exc:
            log.info("hook call refused (401)")
            log.debug("refusal reason: %s", exc)
            return None

    async def authorized_body(service_id: str, request: Request) -> Response | tuple[Caller, Any]:
        """The verified caller and the JSON body of a call to this service, or the answer refusing it:
        404 for another service id, a bare 401 for any token failure, 400 for a body that is not JSON."""
        if service_id != settings.service_id:
            return Response(status_code=404)
        who = await caller(request)
        if who is None:
            return _unauthorized()
        try:
            return who, await request.json()
        except ValueError:
            return _bad_request("the request body is not JSON")

    @app.get("/cds-services")
    async def services() -> dict[str, Any]:
        return discovery(settings)

    @app.post("/cds-services/{service_id}")
    async def hook(service_id: str, request: Request) -> Response:
        checked = await authorized_body(service_id, request)
        if isinstance(checked, Response):
            return checked
        who, body = checked
        if not isinstance(body, dict) or body.get("hook") != HOOK:
            return _bad_request(f"this service answers the {HOOK} hook")
        context = body.get("context")
        if not isinstance(context, dict) or not valid_patient_id(context.get("patientId")):
            return _bad_request("context.patientId is missing or not a FHIR id")
        patient_id: str = context["patientId"]
        user = context.get("userId") if isinstance(context.get("userId"), str) else None
        patient_ref = hasher(f"{who.iss}|Patient/{patient_id}")
        record: dict[str, Any] = {
            "event": "hook",
            "hook": HOOK,
            "service": service_id,
            "issuer": who.iss,
            "client": who.sub,
            "user": hasher(user) if user and user.startswith(_NON_CLINICIAN_USERS) else user,
            "patient": patient_ref,
        }
        if user is not None and user.startswith(_NON_CLINICIAN_USERS):
            audit.write({**record, "outcome": "no cards: the user is the patient or a related person", "cards": []})
            return JSONResponse({"cards": []})

        fetcher = None
        gaps: list[str] = []
        server = body.get("fhirServer")
        if isinstance(server, str) and server:
            trusted = settings.issuer(who.iss)
            if trusted is not None and url_allowed(server, settings.dev) and server.rstrip("/") in trusted.fhir_servers:
                auth = FhirAuthorization.of(body.get("fhirAuthorization"), who.issued_at)
                fetcher = FhirFetcher(clients["fhir"], server, auth.token, settings.fhir_max_pages, auth)
            else:
                log.warning("fhirServer not accepted for this issuer (not registered, or not https)")
                gaps.append("the EHR's FHIR server is not registered for this EHR, so it was not asked")
        prefetch = body.get("prefetch")
        try:
            chart = await obtain_chart(
                prefetch if isinstance(prefetch, dict) else None, patient_id, fetcher, settings.fhir_deadline_seconds
            )
        except PatientUnavailable:
            audit.write({**record, "outcome": "412: the Patient could not be obtained", "cards": []})
            return JSONResponse({"error": "the Patient resource could not be obtained"}, status_code=412)

        hidden = store.suppressed(who.iss, patient_ref, settings.override_suppress_days)
        chosen = [t.id for t in library.trials if t.id not in hidden]
        matches = await run_in_threadpool(
            library.match, chart.patient, as_of=date.today(), trial_ids=chosen, open_kinds=chart.open_kinds
        )
        issued = build_cards(
            matches,
            patient_id=patient_id,
            gaps=[*gaps, *chart.gaps],
            open_kinds=chart.open_kinds,
            screened=len(chosen),
            suppressed=len(library.trials) - len(chosen),
            opts=card_options,
        )
        store.record_cards(who.iss, patient_ref, [(item.card["uuid"], item.trials) for item in issued])
        shown = {t for item in issued for t in item.trials}
        audit.write(
            {
                **record,
                "outcome": "cards" if issued else "no trial fits",
                "open_world": sorted(chart.open_kinds),
                "unavailable": sorted(k for k, r in chart.results.items() if r.state == "failed"),
                "resources": {k: len(r.resources) for k, r in chart.results.items()},
                "records": {
                    "observations": len(chart.patient.observations),
                    "conditions": len(chart.patient.conditions),
                    "medications": len(chart.patient.medications),
                    "procedures": len(chart.patient.procedures),
                    "allergies": len(chart.patient.allergies),
                },
                "trials": [{"id": m.trial, "verdict": m.verdict} for m in matches if m.trial in shown],
                "hidden_by_feedback": sorted(hidden),
                "cards": [{"uuid": i.card["uuid"], "sha256": card_digest(i.card)} for i in issued],
            }
        )
        return JSONResponse({"cards": [item.card for item in issued]})

    @app.post("/cds-services/{service_id}/feedback")
    async def feedback(service_id: str, request: Request) -> Response:
        checked = await authorized_body(service_id, request)
        if isinstance(checked, Response):
            return checked
        who, body = checked
        items = body.get("feedback") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return _bad_request("expected {'feedback': [...]}")
        stored = 0
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("card"), str):
                return _bad_request("each feedback item needs a card id")
            outcome = item.get("outcome")
            if outcome not in ("accepted", "overridden"):
                return _bad_request("outcome must be 'accepted' or 'overridden'")
            reason = item.get("overrideReason")
            coding = reason.get("reason") if isinstance(reason, dict) else None
            system = coding.get("system") if isinstance(coding, dict) else None
            code = coding.get("code") if isinstance(coding, dict) else None
            stamp = item.get("outcomeTimestamp")
            ok = store.record_feedback(
                item["card"],
                who.iss,
                outcome,
                (system if isinstance(system, str) else None, code if isinstance(code, str) else None),
                stamp if isinstance(stamp, str) else None,
            )
            stored += ok
            audit.write(
                {
                    "event": "feedback",
                    "service": service_id,
                    "issuer": who.iss,
                    "client": who.sub,
                    "card": item["card"],
                    "outcome": outcome,
                    "reason": code if isinstance(code, str) else None,
                    "stored": ok,
                }
            )
        return JSONResponse({"stored": stored})

    app.add_middleware(_QuietErrors)
    return app
