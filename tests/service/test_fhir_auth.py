"""fhirAuthorization: which requests a SMART scope string grants, and when the token counts as expired."""

from __future__ import annotations

import pytest

from eligibility.service.fhir_auth import FhirAuthorization, parse_scopes

LABS = "Observation?patient=p1&category=laboratory"
VITALS = "Observation?patient=p1&category=vital-signs"
READ = "Patient/p1"


@pytest.mark.parametrize(
    ("scope", "query", "granted"),
    [
        ("patient/*.read", LABS, True),
        ("patient/*.read", READ, True),
        ("user/*.*", LABS, True),
        ("system/Observation.read", LABS, True),
        ("patient/Observation.read", "Condition?patient=p1", False),
        ("patient/Observation.write", LABS, False),
        ("patient/Observation.rs", LABS, True),
        ("patient/Observation.r", LABS, False),  # v2: a search needs 's'
        ("patient/Patient.s", READ, False),  # v2: a read needs 'r'
        ("patient/Patient.r", READ, True),
        ("patient/Observation.rs?category=laboratory", LABS, True),
        ("patient/Observation.rs?category=laboratory", VITALS, False),
        ("launch openid fhirUser offline_access", LABS, False),
        ("", LABS, False),
        ("patient/Observation.cruds", LABS, True),
        ("patient/observation.read", LABS, False),  # resource types are case-sensitive
    ],
)
def test_scope_table(scope: str, query: str, granted: bool) -> None:
    assert FhirAuthorization("t", None, parse_scopes(scope)).covers(query) is granted


def test_no_scope_stated_grants_everything() -> None:
    assert FhirAuthorization.of({"access_token": "t"}, None).covers(LABS)


@pytest.mark.parametrize(
    ("expires_in", "age", "expired"),
    [
        (300, 0, False),
        (300, 299, False),
        (300, 300, True),
        (0, 0, True),
        (-5, 0, True),
        ("300", 0, True),
        (True, 0, True),
        (None, 10**6, False),
    ],
)
def test_expiry_counts_from_the_hook_token_iat(expires_in: object, age: float, expired: bool) -> None:
    value = {"access_token": "t"} if expires_in is None else {"access_token": "t", "expires_in": expires_in}
    auth = FhirAuthorization.of(value, issued_at=1_000_000.0)
    assert auth.expired(now=1_000_000.0 + age) is expired


def test_a_token_that_is_not_a_string_is_not_sent() -> None:
    assert FhirAuthorization.of({"access_token": 12}, None).token is None
    assert FhirAuthorization.of("Bearer x", None) == FhirAuthorization(None, None, None)
