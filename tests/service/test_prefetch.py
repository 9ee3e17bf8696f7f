"""The four prefetch states, the FHIR fallback against misbehaving servers, 412, cards, feedback and audit."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from eligibility.service.settings import TrustedIssuer

from .card_rules import card_problems, response_problems
from .conftest import (
    ISS,
    OTHER_ISS,
    PATIENT_ID,
    Key,
    LocalHttp,
    Route,
    Running,
    call,
    empty_prefetch,
    hook_body,
    make_token,
    outcome,
    patient_resource,
    searchset,
)

RECENT = (date.today() - timedelta(days=10)).isoformat()


def hemoglobin(value: float, rid: str = "hb-1", when: str = RECENT) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7", "display": "Hemoglobin"}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "g/dL", "system": "http://unitsofmeasure.org", "code": "g/dL"},
    }


def hiv(rid: str = "cond-hiv") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": rid,
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "B20"}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "onsetDateTime": "2015-03-01",
    }


def verdicts(running: Running) -> dict[str, str]:
    """The trials and verdicts the last card listed, from the audit line its call appended."""
    assert running.settings.state_dir is not None
    lines = (running.settings.state_dir / "audit.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    return {t["id"]: t["verdict"] for t in last.get("trials", [])}


def all_cards(response: httpx.Response) -> list[dict[str, Any]]:
    """Every card, checked: the summary first, then (when it lists several trials) one card per trial."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert response_problems(body) == []
    cards: list[dict[str, Any]] = body["cards"]
    assert cards
    summary, per_trial = cards[0], cards[1:]
    assert "may fit (" in summary["summary"]
    assert len(per_trial) != 1, "one trial: the summary card is its card"
    for card in per_trial:
        assert ": " in card["summary"] and "may fit (" not in card["summary"]
    return cards


def only_card(response: httpx.Response) -> dict[str, Any]:
    """The summary card (the per-trial cards beside it are checked by :func:`all_cards`)."""
    return all_cards(response)[0]


# ---- the four states, from prefetch alone -------------------------------------------------------------


def test_null_is_closed_world(service: Running, client: httpx.Client, keys: dict[str, Key]) -> None:
    card = only_card(call(client, service, keys["es"], hook_body(empty_prefetch())))
    assert card["summary"] == "2 trials may fit (1 eligible, 1 needs 1 answer)"
    assert verdicts(service) == {"SVC-ADULT": "eligible", "SVC-ADULT-HB": "needs-review"}
    assert "incomplete" not in card["detail"].lower()


def test_data_is_used(service: Running, client: httpx.Client, keys: dict[str, Key]) -> None:
    prefetch = empty_prefetch()
    prefetch["labs"] = searchset(hemoglobin(12.5))
    card = only_card(call(client, service, keys["es"], hook_body(prefetch)))
    assert card["summary"] == "2 trials may fit (2 eligible)"
    prefetch["labs"] = searchset(hemoglobin(8.0))
    card = only_card(call(client, service, keys["es"], hook_body(prefetch)))
    assert verdicts(service) == {"SVC-ADULT": "eligible"}  # the low haemoglobin fails I2
    prefetch["conditions"] = searchset(hiv())
    response = call(client, service, keys["es"], hook_body(prefetch))
    assert response.status_code == 200 and response.json() == {"cards": []}  # nothing fits


def test_operation_outcome_is_open_world_for_its_kind(
    service: Running, client: httpx.Client, keys: dict[str, Key]
) -> None:
    prefetch = empty_prefetch()
    prefetch["conditions"] = outcome()
    card = only_card(call(client, service, keys["es"], hook_body(prefetch)))
    # E1 "history of HIV infection" rests on the conditions: unknown, never "no record"
    assert verdicts(service) == {"SVC-ADULT": "needs-review", "SVC-ADULT-HB": "needs-review"}
    assert "chart incomplete" in card["summary"]
    assert "conditions could not be obtained: the EHR could not provide it" in card["detail"]
    assert "A missing record of a condition was not taken to mean it is absent." in card["detail"]


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("medicationRequests", "a drug"),
        ("medicationStatements", "a drug"),
        ("procedures", "a procedure"),
        ("allergies", "an allergy"),
    ],
)
def test_a_failed_key_opens_only_its_own_kind(
    key: str, kind: str, service: Running, client: httpx.Client, keys: dict[str, Key]
) -> None:
    prefetch = empty_prefetch()
    prefetch[key] = outcome()
    card = only_card(call(client, service, keys["es"], hook_body(prefetch)))
    # the HIV exclusion is about conditions, which were obtained (null): still closed world, still eligible
    assert verdicts(service) == {"SVC-ADULT": "eligible", "SVC-ADULT-HB": "needs-review"}
    assert "chart incomplete" in card["summary"]
    assert f"A missing record of {kind} was not taken to mean it is absent." in card["detail"]
    assert "a condition" not in card["detail"]
    audit = json.loads((service.settings.state_dir / "audit.jsonl").read_text().splitlines()[-1])  # type: ignore[operator]
    assert audit["open_world"] == [{"a drug": "medication", "a procedure": "procedure", "an allergy": "allergy"}[kind]]


def test_a_failed_lab_query_is_reported_but_keeps_the_closed_world(
    service: Running, client: httpx.Client, keys: dict[str, Key]
) -> None:
    prefetch = empty_prefetch()
    prefetch["labs"] = outcome()
    card = only_card(call(client, service, keys["es"], hook_body(prefetch)))
    assert verdicts(service)["SVC-ADULT"] == "eligible"  # labs are never closed world anyway
    assert "laboratory results could not be obtained" in card["detail"]


def test_absent_keys_without_a_fhir_server_are_open_world(
    service: Running, client: httpx.Client, keys: dict[str, Key]
) -> None:
    card = only_card(call(client, service, keys["es"], hook_body({"patient": patient_resource()})))
    assert verdicts(service)["SVC-ADULT"] == "needs-review"
    assert "not sent, and no FHIR server to ask" in card["detail"]


def test_invalid_resources_are_dropped_and_their_type_goes_open_world(
    service: Running, client: httpx.Client, keys: dict[str, Key]
) -> None:
    prefetch = empty_prefetch()
    broken = hiv()
    broken["onsetDateTime"] = "not a date"
    prefetch["conditions"] = searchset(broken)
    card = only_card(call(client, service, keys["es"], hook_body(prefetch)))
    assert verdicts(service)["SVC-ADULT"] == "needs-review"
    assert "some conditions were not valid FHIR and were left out" in card["detail"]


# ---- 412 and refused requests -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "patient", [None, "absent", outcome(), patient_resource("someone-else"), {"resourceType": "Patient"}, "junk"]
)
def test_412_only_when_the_patient_cannot_be_obtained(
    patient: Any, service: Running, client: httpx.Client, keys: dict[str, Key]
) -> None:
    prefetch = empty_prefetch()
    if patient == "absent":
        del prefetch["patient"]
    else:
        prefetch["patient"] = patient
    response = call(client, service, keys["es"], hook_body(prefetch))
    assert response.status_code == 412
    assert "Quintrell" not in response.text and PATIENT_ID not in response.text


@pytest.mark.parametrize(
    "body", [{"hook": "order-select", "context": {"patientId": PATIENT_ID}}, {"hook": "patient-view", "context": {}}]
)
def test_other_hooks_and_bad_patient_ids_are_400(
    body: dict[str, Any], service: Running, client: httpx.Client, keys: dict[str, Key]
) -> None:
    token = make_token(keys["es"], service.hook_url)
    response = client.post(service.hook_url, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400


def test_a_patient_id_that_is_not_a_fhir_id_is_refused(
    service: Running, client: httpx.Client, keys: dict[str, Key]
) -> None:
    body = hook_body(empty_prefetch(), pid="../Patient?name=x")
    assert call(client, service, keys["es"], body).status_code == 400


@pytest.mark.parametrize("user", ["Patient/svc-patient-1", "RelatedPerson/rp-9"])
def test_no_cards_for_patients_and_relatives(
    user: str, service: Running, client: httpx.Client, keys: dict[str, Key]
) -> None:
    body = hook_body(empty_prefetch())
    body["context"]["userId"] = user
    response = call(client, service, keys["es"], body)
    assert response.status_code == 200 and response.json() == {"cards": []}


def test_nothing_fits_gives_an_empty_card_list(service: Running, client: httpx.Client, keys: dict[str, Key]) -> None:
    infant = empty_prefetch(birth=(date.today() - timedelta(days=400)).isoformat())
    response = call(client, service, keys["es"], hook_body(infant))
    assert response.status_code == 200 and response.json() == {"cards": []}


# ---- the FHIR fallback against a small local server ---------------------------------------------------


def _fhir(local_http: LocalHttp, *tables: dict[str, Any], **routes: Any) -> None:
    """Routes of the fake FHIR server at /fhir (later tables and keywords win)."""
    merged: dict[str, Any] = {}
    for table in (*tables, routes):
        merged.update(table)
    local_http.routes.update({f"/fhir/{name}": route for name, route in merged.items()})


def _empty_searches() -> dict[str, Route]:
    return {
        t: Route(body=searchset())
        for t in (
            "Condition",
            "Observation",
            "MedicationRequest",
            "MedicationStatement",
            "Procedure",
            "AllergyIntolerance",
        )
    }


def test_absent_keys_are_fetched_with_the_token_and_paged(
    service: Running, client: httpx.Client, keys: dict[str, Key], local_http: LocalHttp
) -> None:
    base = local_http.base + "/fhir"

    def observations(path: str) -> Route:
        if "category=vital-signs" in path:
            return Route(body=searchset())
        if "page=2" in path:
            return Route(body=searchset(hemoglobin(12.0, "hb-2")))
        return Route(
            body=searchset(hemoglobin(7.0, "hb-old", when="2001-01-01"), next_url=f"{base}/Observation?page=2")
        )

    _fhir(
        local_http,
        _empty_searches(),
        {"Observation": observations, f"Patient/{PATIENT_ID}": Route(body=patient_resource())},
    )
    local_http.requests.clear()
    body = hook_body(
        None,
        fhirServer=base,
        fhirAuthorization={
            "access_token": "fhir-token-xyz",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "svc",
        },
    )
    card = only_card(call(client, service, keys["es"], body))
    assert verdicts(service) == {"SVC-ADULT": "eligible", "SVC-ADULT-HB": "eligible"}  # page 2 was read
    assert "incomplete" not in card["summary"]
    fhir = [(p, auth) for p, auth in local_http.requests if p.startswith("/fhir/")]
    assert any("page=2" in p for p, _ in fhir)
    assert len(fhir) == 9  # Patient, 7 searches, 1 next page
    assert {auth for _, auth in fhir} == {"Bearer fhir-token-xyz"}


def _authorized_call(
    service: Running, client: httpx.Client, key: Key, local_http: LocalHttp, **authorization: Any
) -> tuple[dict[str, Any], list[str]]:
    """A hook call with no prefetch and this fhirAuthorization; the summary card and the FHIR paths asked."""
    base = local_http.base + "/fhir"
    _fhir(local_http, _empty_searches(), {f"Patient/{PATIENT_ID}": Route(body=patient_resource())})
    local_http.requests.clear()
    auth = {"access_token": "fhir-token-xyz", "token_type": "Bearer", "subject": "svc", **authorization}
    card = only_card(call(client, service, key, hook_body(None, fhirServer=base, fhirAuthorization=auth)))
    return card, [p.split("?", 1)[0].removeprefix("/fhir/") for p, _ in local_http.requests if p.startswith("/fhir/")]


@pytest.mark.parametrize("expires_in", [0, -30, "300", None])
def test_an_expired_fhir_token_is_not_used(
    expires_in: Any, service: Running, client: httpx.Client, keys: dict[str, Key], local_http: LocalHttp
) -> None:
    prefetch = {"patient": patient_resource()}  # the Patient was prefetched; nothing else was
    base = local_http.base + "/fhir"
    _fhir(local_http, _empty_searches())
    local_http.requests.clear()
    auth = {"access_token": "fhir-token-xyz", "token_type": "Bearer", "scope": "patient/*.read", "subject": "s"}
    if expires_in is not None:
        auth["expires_in"] = expires_in
    card = only_card(call(client, service, keys["es"], hook_body(prefetch, fhirServer=base, fhirAuthorization=auth)))
    asked = [p for p, _ in local_http.requests if p.startswith("/fhir/")]
    if expires_in is None:  # not stated: used (the FHIR server has the last word)
        assert len(asked) == 7 and verdicts(service)["SVC-ADULT"] == "eligible"
        return
    assert asked == []  # expired (or an unreadable lifetime): never sent
    assert verdicts(service) == {"SVC-ADULT": "needs-review", "SVC-ADULT-HB": "needs-review"}
    assert "conditions could not be obtained: the EHR's FHIR access token had expired" in card["detail"]


def test_a_token_older_than_its_lifetime_is_expired(
    service: Running, client: httpx.Client, keys: dict[str, Key], local_http: LocalHttp
) -> None:
    # expires_in counts from the hook JWT's iat: issued 100 s ago with 60 s to live is expired
    prefetch = {"patient": patient_resource()}
    base = local_http.base + "/fhir"
    _fhir(local_http, _empty_searches())
    local_http.requests.clear()
    auth = {"access_token": "t", "token_type": "Bearer", "expires_in": 60, "scope": "patient/*.read", "subject": "s"}
    now = int(time.time())
    body = hook_body(prefetch, fhirServer=base, fhirAuthorization=auth)
    card = only_card(call(client, service, keys["es"], body, iat=now - 100, exp=now + 100))
    assert not [p for p, _ in local_http.requests if p.startswith("/fhir/")]
    assert "token had expired" in card["detail"]


@pytest.mark.parametrize(
    ("scope", "asked", "open_kinds"),
    [
        ("patient/*.read", 8, []),
        ("launch openid patient/*.rs", 8, []),
        (
            "patient/Patient.read patient/Condition.read patient/Observation.read",
            4,
            ["allergy", "medication", "procedure"],
        ),
        # v2 with a category: only the laboratory search is covered among the Observation ones
        (
            "patient/Patient.r patient/Observation.rs?category=laboratory patient/Condition.s",
            3,
            ["allergy", "medication", "procedure"],
        ),
        ("patient/Patient.read patient/MedicationRequest.read", 2, ["allergy", "condition", "medication", "procedure"]),
    ],
)
def test_only_searches_within_the_token_scope_are_asked(
    scope: str,
    asked: int,
    open_kinds: list[str],
    service: Running,
    client: httpx.Client,
    keys: dict[str, Key],
    local_http: LocalHttp,
) -> None:
    card, paths = _authorized_call(service, client, keys["es"], local_http, expires_in=300, scope=scope)
    assert len(paths) == asked, paths
    audit = json.loads((service.settings.state_dir / "audit.jsonl").read_text().splitlines()[-1])  # type: ignore[operator]
    assert audit["open_world"] == open_kinds
    if open_kinds:
        assert "does not grant this search (scope)" in card["detail"]
    else:
        assert "incomplete" not in card["summary"]


def test_without_the_patient_in_scope_the_call_is_412(
    service: Running, client: httpx.Client, keys: dict[str, Key], local_http: LocalHttp
) -> None:
    base = local_http.base + "/fhir"
    _fhir(local_http, _empty_searches(), {f"Patient/{PATIENT_ID}": Route(body=patient_resource())})
    local_http.requests.clear()
    auth = {"access_token": "t", "token_type": "Bearer", "expires_in": 300, "scope": "patient/Condition.read"}
    response = call(client, service, keys["es"], hook_body(None, fhirServer=base, fhirAuthorization=auth))
    assert response.status_code == 412
    assert not any(p.startswith(f"/fhir/Patient/{PATIENT_ID}") for p, _ in local_http.requests)


def test_prefetch_bundle_with_a_next_link_is_continued(
    service: Running, client: httpx.Client, keys: dict[str, Key], local_http: LocalHttp
) -> None:
    base = local_http.base + "/fhir"
    _fhir(local_http, Observation=Route(body=searchset(hemoglobin(13.0, "hb-3"))))
    prefetch = empty_prefetch()
    prefetch["labs"] = searchset(hemoglobin(6.0, "hb-x", when="2000-01-01"), next_url=f"{base}/Observation?cursor=2")
    only_card(call(client, service, keys["es"], hook_body(prefetch, fhirServer=base)))
    assert verdicts(service)["SVC-ADULT-HB"] == "eligible"
    no_server = only_card(call(client, service, keys["es"], hook_body(prefetch)))
    assert "only the first page was sent" in no_server["detail"]


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (Route(500, outcome()), "the FHIR server answered HTTP 500"),
        (Route(200, outcome()), "the FHIR server reported an error"),
        (Route(200, {"resourceType": "Condition"}), "a search did not return a Bundle"),
        (Route(body=searchset(), delay=3.0), "the FHIR server did not answer in time"),
    ],
)
def test_a_failing_fhir_server_gives_open_world_not_an_error(
    route: Route, reason: str, service: Running, client: httpx.Client, keys: dict[str, Key], local_http: LocalHttp
) -> None:
    _fhir(local_http, _empty_searches(), Condition=route)
    prefetch = {"patient": patient_resource()}
    card = only_card(call(client, service, keys["es"], hook_body(prefetch, fhirServer=local_http.base + "/fhir")))
    assert verdicts(service)["SVC-ADULT"] == "needs-review"
    assert f"conditions could not be obtained: {reason}" in card["detail"]


def test_patient_from_a_failing_server_is_412(
    service: Running, client: httpx.Client, keys: dict[str, Key], local_http: LocalHttp
) -> None:
    _fhir(local_http, _empty_searches(), {f"Patient/{PATIENT_ID}": Route(500, outcome())})
    response = call(client, service, keys["es"], hook_body(None, fhirServer=local_http.base + "/fhir"))
    assert response.status_code == 412
    _fhir(local_http, **{f"Patient/{PATIENT_ID}": Route(body=patient_resource())})
    retried = call(client, service, keys["es"], hook_body({"patient": outcome()}, fhirServer=local_http.base + "/fhir"))
    assert retried.status_code == 200  # the EHR's failed Patient was fetched again


def test_unregistered_or_plain_http_fhir_servers_are_not_asked(
    service_factory: Any,
    service: Running,
    client: httpx.Client,
    keys: dict[str, Key],
    local_http: LocalHttp,
    tmp_path: Path,
) -> None:
    _fhir(local_http, _empty_searches())
    local_http.requests.clear()
    elsewhere = local_http.base + "/other-fhir"
    card = only_card(
        call(client, service, keys["es"], hook_body({"patient": patient_resource()}, fhirServer=elsewhere))
    )
    assert "not registered" in card["detail"]
    jwks = tmp_path / "jwks.json"  # without --dev the key set cannot come over plain http either: a file
    jwks.write_text(json.dumps({"keys": [keys["es"].jwk()]}))
    registered = TrustedIssuer(iss=ISS, jwks=str(jwks), fhir_servers=(local_http.base + "/fhir",))
    strict = service_factory(dev=False, issuers=(registered,))  # the server is plain http: only --dev allows it
    card = only_card(
        call(
            client, strict, keys["es"], hook_body({"patient": patient_resource()}, fhirServer=local_http.base + "/fhir")
        )
    )
    assert "not registered" in card["detail"]
    assert [p for p, _ in local_http.requests if "fhir" in p] == []


def test_the_token_never_follows_a_next_link_to_another_server(
    service: Running, client: httpx.Client, keys: dict[str, Key], local_http: LocalHttp
) -> None:
    base = local_http.base + "/fhir"
    _fhir(local_http, _empty_searches(), Observation=Route(body=searchset(next_url=local_http.base + "/steal?x=1")))
    local_http.requests.clear()
    body = hook_body(
        {"patient": patient_resource()},
        fhirServer=base,
        fhirAuthorization={"access_token": "secret-t", "token_type": "Bearer"},
    )
    card = only_card(call(client, service, keys["es"], body))
    assert "a page link pointed outside the FHIR server" in card["detail"]
    assert not any(p.startswith("/steal") for p, _ in local_http.requests)


# ---- feedback and the audit trail ----------------------------------------------------------------------


def _feedback(
    client: httpx.Client, running: Running, key: Key, card: str, outcome_: str, iss: str = ISS
) -> httpx.Response:
    item: dict[str, Any] = {"card": card, "outcome": outcome_, "outcomeTimestamp": "2026-12-02T01:00:00Z"}
    if outcome_ == "overridden":
        item["overrideReason"] = {
            "reason": {"code": "not-interested", "system": "urn:eligibility:cds:override-reason"},
            "userComment": "Maribeth Quintrell said no",
        }
    token = make_token(key, running.feedback_url, iss=iss)
    return client.post(running.feedback_url, json={"feedback": [item]}, headers={"Authorization": f"Bearer {token}"})


def test_an_overridden_summary_card_hides_all_its_trials_for_that_patient(
    service: Running, client: httpx.Client, keys: dict[str, Key]
) -> None:
    card = only_card(call(client, service, keys["es"], hook_body(empty_prefetch())))
    assert _feedback(client, service, keys["es"], card["uuid"], "accepted").json() == {"stored": 1}
    assert only_card(call(client, service, keys["es"], hook_body(empty_prefetch())))  # accepted hides nothing
    assert _feedback(client, service, keys["es"], card["uuid"], "overridden").json() == {"stored": 1}
    response = call(client, service, keys["es"], hook_body(empty_prefetch()))
    assert response.json() == {"cards": []}
    other = only_card(
        call(client, service, keys["es"], hook_body(empty_prefetch("svc-patient-2"), pid="svc-patient-2"))
    )
    assert set(verdicts(service)) == {"SVC-ADULT", "SVC-ADULT-HB"}
    # another EHR cannot dismiss this EHR's card
    assert _feedback(client, service, keys["other"], other["uuid"], "overridden", iss=OTHER_ISS).json() == {"stored": 0}
    audit = (service.settings.state_dir / "audit.jsonl").read_text()  # type: ignore[operator]
    assert "Maribeth" not in audit and "Quintrell" not in audit  # the comment is not stored or audited


def test_an_overridden_trial_card_hides_only_that_trial(
    service: Running, client: httpx.Client, keys: dict[str, Key]
) -> None:
    cards = all_cards(call(client, service, keys["es"], hook_body(empty_prefetch())))
    by_summary = {c["summary"]: c for c in cards[1:]}
    assert set(by_summary) == {"SVC-ADULT may fit: eligible on the records", "SVC-ADULT-HB may fit: needs 1 answer"}
    dismissed = by_summary["SVC-ADULT-HB may fit: needs 1 answer"]
    assert "Dismiss this card to hide only this trial" in dismissed["detail"]
    assert _feedback(client, service, keys["es"], dismissed["uuid"], "overridden").json() == {"stored": 1}
    [card] = all_cards(call(client, service, keys["es"], hook_body(empty_prefetch())))  # one trial left: one card
    assert verdicts(service) == {"SVC-ADULT": "eligible"}
    assert card["summary"] == "1 trial may fit (1 eligible)"
    assert "1 hidden after earlier feedback for this patient" in card["detail"]


def test_suppression_expires(service_factory: Any, client: httpx.Client, keys: dict[str, Key]) -> None:
    running = service_factory(override_suppress_days=0)
    card = only_card(call(client, running, keys["es"], hook_body(empty_prefetch())))
    _feedback(client, running, keys["es"], card["uuid"], "overridden")
    assert only_card(call(client, running, keys["es"], hook_body(empty_prefetch())))


def test_audit_lines_say_who_and_what_without_phi(service: Running, client: httpx.Client, keys: dict[str, Key]) -> None:
    cards = all_cards(call(client, service, keys["es"], hook_body(empty_prefetch())))
    line = json.loads((service.settings.state_dir / "audit.jsonl").read_text().splitlines()[-1])  # type: ignore[operator]
    assert line["issuer"] == "https://ehr.test.example" and line["client"] == "ehr-client-7"
    assert line["user"] == "Practitioner/prac-3" and line["at"]
    assert len(line["patient"]) == 32 and PATIENT_ID not in json.dumps(line)
    assert [c["uuid"] for c in line["cards"]] == [c["uuid"] for c in cards] and len(line["cards"][0]["sha256"]) == 32
    assert {t["id"] for t in line["trials"]} == {"SVC-ADULT", "SVC-ADULT-HB"}


def test_card_links_to_the_worksheet(service_factory: Any, client: httpx.Client, keys: dict[str, Key]) -> None:
    running = service_factory(worksheet_url="https://trials.example.org/ws")
    card = only_card(call(client, running, keys["es"], hook_body(empty_prefetch())))
    urls = {link["url"] for link in card["links"]}
    assert urls == {
        f"https://trials.example.org/ws/screen?trial={t}&patient={PATIENT_ID}" for t in ("SVC-ADULT", "SVC-ADULT-HB")
    }
    assert card["source"] == {"label": "Trial eligibility pre-screen", "url": "https://trials.example.org/ws/"}
    assert all(link["type"] == "absolute" for link in card["links"])


def test_smart_links_beside_the_absolute_ones(service_factory: Any, client: httpx.Client, keys: dict[str, Key]) -> None:
    running = service_factory(
        worksheet_url="https://trials.example.org/ws", smart_launch_url="https://trials.example.org/ws/launch"
    )
    cards = all_cards(call(client, running, keys["es"], hook_body(empty_prefetch())))
    summary, per_trial = cards[0], cards[1:]
    smart = [link for link in summary["links"] if link["type"] == "smart"]
    assert [json.loads(link["appContext"]) for link in smart] == [{"trial": "SVC-ADULT"}, {"trial": "SVC-ADULT-HB"}]
    assert {link["url"] for link in smart} == {"https://trials.example.org/ws/launch"}
    assert len(summary["links"]) == 4  # an absolute and a smart link per trial
    for card in per_trial:
        assert sorted(link["type"] for link in card["links"]) == ["absolute", "smart"]
    only_smart = service_factory(smart_launch_url="https://trials.example.org/ws/launch")
    card = only_card(call(client, only_smart, keys["es"], hook_body(empty_prefetch())))
    assert {link["type"] for link in card["links"]} == {"smart"} and "url" not in card["source"]


def test_the_card_checker_catches_broken_cards() -> None:
    good = {"summary": "x", "indicator": "info", "source": {"label": "s"}}
    assert card_problems(good) == []
    bad = [
        {**good, "summary": "y" * 140},
        {**good, "indicator": "hint"},
        {**good, "source": {}},
        {**good, "detail": None},
        {**good, "links": [{"label": "l", "url": "/relative", "type": "absolute"}]},
        {**good, "links": [{"label": "l", "url": "https://x", "type": "web"}]},
        {**good, "suggestions": []},
        {**good, "overrideReasons": [{"code": "c"}]},
    ]
    for card in bad:
        assert card_problems(card), card
