"""What the hook's ``fhirAuthorization`` allows: whether the access token is still valid, and which of the
prefetch searches its ``scope`` covers.

Why check at all, when the FHIR server enforces its own token: a search the token does not cover would be
refused anyway, so asking is wasted time under the hook's deadline, and an expired token would be sent to
the server for nothing. A resource type that is not fetched for either reason is "could not be obtained"
(open world for its kind), and the card says why.

``expires_in`` is counted from the hook JWT's ``iat`` (the EHR issued both for this call; counting from
our clock at arrival would stretch the lifetime by the network time). A token without ``expires_in``, or
without ``scope``, is used for every search (CDS Hooks 2.0 requires both fields, but the FHIR server still
has the last word); a ``scope`` that is there but covers no clinical search gives open world for all.

Scopes are SMART App Launch scopes, v1 (``patient/Condition.read``, ``user/*.*``) and v2
(``patient/Observation.rs?category=laboratory``): context ``patient``, ``user`` or ``system``; a resource
type or ``*``; permissions ``read`` / ``*`` (v1) or letters of ``cruds`` (v2; a read needs ``r``, a search
``s``); v2 query parameters limit the scope to searches with those parameters.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl

_SCOPE = re.compile(r"(patient|user|system)/([A-Za-z]+|\*)\.(read|write|\*|c?r?u?d?s?)(?:\?(.*))?")


@dataclass(frozen=True)
class Scope:
    resource: str
    read: bool
    search: bool
    params: frozenset[tuple[str, str]]


def parse_scopes(value: str) -> tuple[Scope, ...]:
    """The resource scopes of a space-separated scope string (``launch``, ``openid`` and the like ignored)."""
    out = []
    for item in value.split():
        found = _SCOPE.fullmatch(item)
        if found is None or not found.group(3):
            continue
        _, resource, perms, query = found.groups()
        if perms in ("read", "*"):
            read = search = True
        else:
            read, search = "r" in perms, "s" in perms
        out.append(Scope(resource, read, search, frozenset(parse_qsl(query or "", keep_blank_values=True))))
    return tuple(out)


@dataclass(frozen=True)
class FhirAuthorization:
    """The hook's FHIR access token and what it covers; ``scopes`` None means "not stated"."""

    token: str | None
    expires_at: float | None
    scopes: tuple[Scope, ...] | None

    @classmethod
    def of(cls, value: object, issued_at: float | None) -> FhirAuthorization:
        if not isinstance(value, dict):
            return cls(None, None, None)
        token = value.get("access_token")
        expires_in = value.get("expires_in")
        expires_at = None
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            expires_at = (issued_at if issued_at is not None else time.time()) + float(expires_in)
        elif expires_in is not None:
            expires_at = float("-inf")  # unreadable: treated as expired, never as "valid forever"
        scope = value.get("scope")
        return cls(
            token if isinstance(token, str) and token else None,
            expires_at,
            parse_scopes(scope) if isinstance(scope, str) else None,
        )

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (time.time() if now is None else now)

    def covers(self, query: str) -> bool:
        """Whether the scopes allow this request: a read ``Type/id`` or a search ``Type?a=b&c=d``."""
        if self.scopes is None:
            return True
        resource, sep, rest = query.partition("?")
        is_read = not sep and "/" in resource
        rtype = resource.split("/", 1)[0]
        params = frozenset(parse_qsl(rest, keep_blank_values=True))
        for scope in self.scopes:
            if scope.resource not in ("*", rtype):
                continue
            if not (scope.read if is_read else scope.search):
                continue
            if scope.params <= params:
                return True
        return False
