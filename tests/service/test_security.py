"""Hook-call tokens against the real service under uvicorn: what is accepted, and every refusal a bare 401."""

from __future__ import annotations

import base64
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from eligibility.service.security import ReplayCache

from .card_rules import response_problems
from .conftest import ISS, OTHER_ISS, Key, Running, call, empty_prefetch, hook_body, make_token


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned(aud: str) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": aud, "iat": now, "exp": now + 60, "jti": "none-1"}
    return f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': 'es-1'})}.{_b64(claims)}."


def _tampered(token: str) -> str:
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    return f"{head}.{_b64(claims)}.{sig}"


def _hs256(aud: str) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": aud, "iat": now, "exp": now + 60, "jti": "hs-1"}
    return jwt.encode(claims, "a-shared-secret-of-32-bytes-or-more!", algorithm="HS256", headers={"kid": "es-1"})


# name -> (a function (keys, running) -> the Authorization header value, the refusal reason logged at DEBUG)
REJECTED = {
    "alg none": (lambda k, s: "Bearer " + _unsigned(s.hook_url), "alg not allowed"),
    "HS256": (lambda k, s: "Bearer " + _hs256(s.hook_url), "alg not allowed"),
    "wrong aud": (
        lambda k, s: "Bearer " + make_token(k["es"], s.base + "/cds-services/another-service"),
        "InvalidAudienceError",
    ),
    "aud of another host": (
        lambda k, s: "Bearer " + make_token(k["es"], s.hook_url.replace("127.0.0.1", "localhost")),
        "InvalidAudienceError",
    ),
    "expired": (
        lambda k, s: (
            "Bearer " + make_token(k["es"], s.hook_url, iat=int(time.time()) - 600, exp=int(time.time()) - 300)
        ),
        "ExpiredSignatureError",
    ),
    "future iat": (
        lambda k, s: (
            "Bearer " + make_token(k["es"], s.hook_url, iat=int(time.time()) + 600, exp=int(time.time()) + 700)
        ),
        "ImmatureSignatureError",
    ),
    "lives too long": (
        lambda k, s: "Bearer " + make_token(k["es"], s.hook_url, exp=int(time.time()) + 86400),
        "lives too long",
    ),
    "unknown iss": (
        lambda k, s: "Bearer " + make_token(k["es"], s.hook_url, iss="https://stranger.example"),
        "issuer not trusted",
    ),
    "jku not allowed": (
        lambda k, s: "Bearer " + make_token(k["jku"], s.hook_url, headers={"jku": "http://127.0.0.1:9/evil.json"}),
        "jku not allowed",
    ),
    "jku of another issuer": (
        lambda k, s: (
            "Bearer " + make_token(k["other"], s.hook_url, iss=OTHER_ISS, headers={"jku": s.settings.issuers[0].jku[0]})
        ),
        "jku not allowed",
    ),
    "missing kid": (lambda k, s: "Bearer " + make_token(k["es"], s.hook_url, headers={"kid": None}), "no kid"),
    "unknown kid": (lambda k, s: "Bearer " + make_token(k["es"], s.hook_url, headers={"kid": "nobody"}), "unknown kid"),
    "tampered signature": (
        lambda k, s: "Bearer " + _tampered(make_token(k["es"], s.hook_url)),
        "InvalidSignatureError",
    ),
    "signed by an unpublished key": (
        lambda k, s: "Bearer " + make_token(k["rogue"], s.hook_url),
        "InvalidSignatureError",
    ),
    "key of another issuer": (lambda k, s: "Bearer " + make_token(k["other"], s.hook_url), "unknown kid"),
    "no jti": (lambda k, s: "Bearer " + make_token(k["es"], s.hook_url, drop=("jti",)), "MissingRequiredClaimError"),
    "no exp": (lambda k, s: "Bearer " + make_token(k["es"], s.hook_url, drop=("exp",)), "MissingRequiredClaimError"),
    "no iat": (lambda k, s: "Bearer " + make_token(k["es"], s.hook_url, drop=("iat",)), "MissingRequiredClaimError"),
    "not a JWT": (lambda k, s: "Bearer not.a.jwt", "not a JWT"),
    "no Bearer scheme": (lambda k, s: make_token(k["es"], s.hook_url), "no bearer token"),
    "no header": (lambda k, s: None, "no bearer token"),
}


def _assert_bare_401(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.content == b""
    assert "www-authenticate" not in response.headers


def test_es384_and_rs384_tokens_are_accepted(service: Running, client: httpx.Client, keys: dict[str, Key]) -> None:
    for name in ("es", "rs"):
        response = call(client, service, keys[name], hook_body(empty_prefetch()))
        assert response.status_code == 200, name
        assert response_problems(response.json()) == []
        assert response.json()["cards"], "an adult with a clean chart fits the adult trial"


def test_a_token_from_an_allow_listed_jku_is_accepted(
    service: Running, client: httpx.Client, keys: dict[str, Key]
) -> None:
    jku = service.settings.issuers[0].jku[0]
    response = call(client, service, keys["jku"], hook_body(empty_prefetch()), headers={"jku": jku})
    assert response.status_code == 200


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_every_rejection_is_a_bare_401(
    case: str, service: Running, client: httpx.Client, keys: dict[str, Key], caplog: pytest.LogCaptureFixture
) -> None:
    make, reason = REJECTED[case]
    authorization: str | None = make(keys, service)  # type: ignore[no-untyped-call]
    headers = {"Authorization": authorization} if authorization is not None else {}
    with caplog.at_level(logging.DEBUG, logger="eligibility.service"):
        response = client.post(service.hook_url, json=hook_body(empty_prefetch()), headers=headers)
    _assert_bare_401(response)
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refusal reason")]
    assert len(refusals) == 1 and reason in refusals[0], refusals  # refused for this case's reason


def test_a_replayed_jti_is_refused(service: Running, client: httpx.Client, keys: dict[str, Key]) -> None:
    token = make_token(keys["es"], service.hook_url)
    headers = {"Authorization": f"Bearer {token}"}
    first = client.post(service.hook_url, json=hook_body(empty_prefetch()), headers=headers)
    assert first.status_code == 200
    _assert_bare_401(client.post(service.hook_url, json=hook_body(empty_prefetch()), headers=headers))
    # the same jti in a fresh token is still a replay
    again = make_token(keys["es"], service.hook_url, jti=jwt.decode(token, options={"verify_signature": False})["jti"])
    _assert_bare_401(
        client.post(service.hook_url, json=hook_body(empty_prefetch()), headers={"Authorization": f"Bearer {again}"})
    )


def test_a_replay_is_refused_after_a_restart_and_by_a_second_worker(
    service_factory: Any, client: httpx.Client, keys: dict[str, Key]
) -> None:
    public = "https://cds.example.org"
    aud = f"{public}/cds-services/trial-eligibility"
    first, second = service_factory(public_url=public), service_factory(public_url=public)  # one state folder
    assert first.settings.state_dir == second.settings.state_dir
    token = make_token(keys["es"], aud)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post(first.hook_url, json=hook_body(empty_prefetch()), headers=headers).status_code == 200
    _assert_bare_401(client.post(second.hook_url, json=hook_body(empty_prefetch()), headers=headers))
    fresh = {"Authorization": f"Bearer {make_token(keys['es'], aud)}"}
    assert client.post(second.hook_url, json=hook_body(empty_prefetch()), headers=fresh).status_code == 200
    restarted = service_factory(public_url=public)  # a worker started later on the same state folder
    _assert_bare_401(client.post(restarted.hook_url, json=hook_body(empty_prefetch()), headers=headers))
    _assert_bare_401(client.post(restarted.hook_url, json=hook_body(empty_prefetch()), headers=fresh))


def test_the_replay_cache_forgets_only_expired_tokens(tmp_path: Path) -> None:
    cache = ReplayCache(tmp_path / "replay.sqlite3")
    now = time.time()
    assert cache.check_and_add(ISS, "j-1", now + 60)
    assert not cache.check_and_add(ISS, "j-1", now + 60)
    assert cache.check_and_add(OTHER_ISS, "j-1", now + 60)  # token ids are per issuer
    assert cache.check_and_add(ISS, "j-2", now - 1)  # recorded already expired ...
    assert cache.check_and_add(ISS, "j-2", now + 60)  # ... so its id may be used again
    cache.close()
    reopened = ReplayCache(tmp_path / "replay.sqlite3")
    assert not reopened.check_and_add(ISS, "j-1", now + 60) and not reopened.check_and_add(ISS, "j-2", now + 60)
    reopened.close()


def test_the_feedback_endpoint_needs_its_own_audience(
    service: Running, client: httpx.Client, keys: dict[str, Key]
) -> None:
    body = {"feedback": [{"card": "c-1", "outcome": "accepted", "outcomeTimestamp": "2026-12-02T01:00:00Z"}]}
    hook_aud = make_token(keys["es"], service.hook_url)
    _assert_bare_401(client.post(service.feedback_url, json=body, headers={"Authorization": f"Bearer {hook_aud}"}))
    _assert_bare_401(client.post(service.feedback_url, json=body))
    ok = make_token(keys["es"], service.feedback_url)
    response = client.post(service.feedback_url, json=body, headers={"Authorization": f"Bearer {ok}"})
    assert response.status_code == 200
    assert response.json() == {"stored": 0}  # no such card was issued


def test_public_url_sets_the_audience(service_factory: Any, client: httpx.Client, keys: dict[str, Key]) -> None:
    running = service_factory(public_url="https://cds.example.org")
    body = hook_body(empty_prefetch())
    as_called = make_token(keys["es"], running.hook_url)
    _assert_bare_401(client.post(running.hook_url, json=body, headers={"Authorization": f"Bearer {as_called}"}))
    public = make_token(keys["es"], "https://cds.example.org/cds-services/trial-eligibility")
    assert client.post(running.hook_url, json=body, headers={"Authorization": f"Bearer {public}"}).status_code == 200


def test_discovery_lists_generic_prefetch_templates(service: Running, client: httpx.Client) -> None:
    response = client.get(service.base + "/cds-services")
    assert response.status_code == 200
    [svc] = response.json()["services"]
    assert svc["hook"] == "patient-view" and svc["id"] == "trial-eligibility" and svc["title"] and svc["description"]
    templates = svc["prefetch"]
    assert templates["patient"] == "Patient/{{context.patientId}}"
    wanted = {"Condition", "Observation", "MedicationRequest", "MedicationStatement", "Procedure", "AllergyIntolerance"}
    assert {t.split("?")[0] for t in templates.values()} == wanted | {"Patient/{{context.patientId}}"}
    for query in templates.values():
        assert "{{context.patientId}}" in query
        if "?" in query:  # only patient= and token equality (category=...), no modifiers or chains
            for param in query.split("?", 1)[1].split("&"):
                name, _, value = param.partition("=")
                assert name in ("patient", "category") and ":" not in name and "." not in name
                assert "," not in value
    assert any("category=laboratory" in q for q in templates.values())
    assert any("category=vital-signs" in q for q in templates.values())


def test_cors_only_for_configured_origins(service_factory: Any, client: httpx.Client) -> None:
    running = service_factory(cors_origins=("https://sandbox.cds-hooks.org",))
    ok = client.options(
        running.hook_url,
        headers={"Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST"},
    )
    assert ok.headers.get("access-control-allow-origin") == "https://sandbox.cds-hooks.org"
    other = client.get(running.base + "/cds-services", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = client.options(
        running.hook_url, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
