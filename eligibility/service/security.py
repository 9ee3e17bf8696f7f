"""Verifying the JWT an EHR signs each hook call with (CDS Hooks 2.0, "Trusting CDS Clients").

Why this much checking: the token is the only thing that says the call comes from an EHR we trust, and
the call asks us to screen a real patient and (with ``fhirAuthorization``) hands us a bearer token for
their chart. So every check is a refusal, and every refusal is the same :class:`AuthError` — the app turns
it into a bare 401, so a caller learns nothing about which check failed:

- ``alg`` is ES384 or RS384 (never ``none``, never an HMAC: a public key used as an HMAC secret is the
  classic confusion attack); ``kid`` is present;
- ``iss`` is on the allow list; the key comes from that issuer's key set, or from the header's ``jku`` only
  when that URL is allow-listed for that issuer (a token cannot bring its own keys);
- the signature verifies; ``aud`` is the exact URL called; ``exp``, ``iat`` and ``jti`` are present;
  ``iat`` is not in the future and ``exp`` not past (both within a small clock skew); the token does not
  live longer than the configured maximum;
- ``jti`` has not been seen from this issuer before it expires (the replay cache, in the state folder's
  SQLite file when there is one, so restarts and other workers share it).

Key sets are fetched (httpx) or read from a file once and cached; an unknown ``kid`` refetches at most
once per ``min_refresh`` seconds, so key rotation works and a flood of made-up kids does not become a flood
of fetches.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from .settings import ServiceSettings

ALLOWED_ALGS = frozenset({"ES384", "RS384"})
_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class AuthError(Exception):
    """A hook call that is not trusted. The message is for tests and debugging only, never sent or logged."""


@dataclass(frozen=True)
class Caller:
    """Who made a verified call: the issuer (EHR), its client id (``sub``) and the token id."""

    iss: str
    sub: str | None
    jti: str
    tenant: str | None = None
    issued_at: float | None = None


def is_loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK


def url_allowed(url: str, dev: bool) -> bool:
    """https, or (``--dev`` only) plain http on loopback."""
    return urlsplit(url).scheme == "https" or (dev and is_loopback_http(url))


class KeySets:
    """JWKS documents by source (file path or URL), parsed to ``kid -> JWK dict`` and cached."""

    def __init__(self, *, dev: bool, ttl: float, min_refresh: float = 30.0, timeout: float = 3.0):
        self.dev = dev
        self.ttl = ttl
        self.min_refresh = min_refresh
        self.timeout = timeout
        self._cache: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}
        self._lock = asyncio.Lock()

    async def get(self, source: str, *, refresh: bool = False) -> dict[str, dict[str, Any]]:
        async with self._lock:
            now = time.monotonic()
            hit = self._cache.get(source)
            if hit is not None:
                age = now - hit[0]
                if (not refresh and age < self.ttl) or (refresh and age < self.min_refresh):
                    return hit[1]
            keys = await self._load(source)
            self._cache[source] = (now, keys)
            return keys

    async def _load(self, source: str) -> dict[str, dict[str, Any]]:
        try:
            if "://" in source:
                if not url_allowed(source, self.dev):
                    raise AuthError("key set URL is not https")
                async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
                    response = await client.get(source, headers={"Accept": "application/json"})
                response.raise_for_status()
                document = response.json()
            else:
                document = json.loads(Path(source).read_text(encoding="utf-8"))
        except AuthError:
            raise
        except (OSError, ValueError, httpx.HTTPError) as exc:
            raise AuthError(f"key set unavailable ({type(exc).__name__})") from None
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise AuthError("key set has no 'keys' list")
        return {k["kid"]: k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)}


class ReplayCache:
    """``(iss, jti)`` pairs seen, each kept until its token could no longer be accepted anyway.

    With a path (``state_dir``/replay.sqlite3) the pairs live in SQLite, so a restarted service or a second
    worker on the same state folder refuses a token another one accepted: the check and the insert are one
    ``INSERT OR IGNORE`` on the primary key, atomic across processes (WAL, a busy timeout). Without a path
    they live in this process's memory.
    """

    _PURGE_EVERY = 256

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA busy_timeout = 5000")
            if path is not None:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS seen (iss TEXT NOT NULL, jti TEXT NOT NULL, until REAL NOT NULL,"
                " PRIMARY KEY (iss, jti))"
            )
        self._calls = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def check_and_add(self, iss: str, jti: str, until: float) -> bool:
        """True when new (and now recorded); False when this token id was already used."""
        now = time.time()
        with self._lock:
            self._calls += 1
            if self._calls % self._PURGE_EVERY == 0:
                self._db.execute("DELETE FROM seen WHERE until <= ?", (now,))
            # a pair whose token has expired may be seen again (its token cannot be accepted anyway)
            self._db.execute("DELETE FROM seen WHERE iss = ? AND jti = ? AND until <= ?", (iss, jti, now))
            added = self._db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", (iss, jti, until)).rowcount
        return added == 1


class TokenVerifier:
    """Checks a hook call's bearer JWT against the settings' issuer allow list (see module docstring)."""

    def __init__(self, settings: ServiceSettings, keysets: KeySets | None = None):
        self.settings = settings
        self.keysets = keysets or KeySets(dev=settings.dev, ttl=settings.jwks_cache_seconds)
        self.replay = ReplayCache(settings.state_dir / "replay.sqlite3" if settings.state_dir else None)

    async def verify(self, authorization: str | None, audience: str) -> Caller:
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthError("no bearer token")
        token = authorization[len("Bearer ") :].strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthError("not a JWT") from None
        alg = header.get("alg")
        if alg not in ALLOWED_ALGS:
            raise AuthError("alg not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("no kid")
        iss = unverified.get("iss")
        trusted = self.settings.issuer(iss) if isinstance(iss, str) else None
        if trusted is None:
            raise AuthError("issuer not trusted")
        source = trusted.jwks
        jku = header.get("jku")
        if jku is not None:
            if not isinstance(jku, str) or jku.rstrip("/") not in trusted.jku:
                raise AuthError("jku not allowed for this issuer")
            source = jku
        keys = await self.keysets.get(source)
        if kid not in keys:
            keys = await self.keysets.get(source, refresh=True)
        jwk = keys.get(kid)
        if jwk is None:
            raise AuthError("unknown kid")
        if jwk.get("alg") not in (None, alg):
            raise AuthError("key is for another algorithm")
        try:
            key = jwt.PyJWK(jwk, algorithm=alg).key
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=audience,
                issuer=trusted.iss,
                leeway=self.settings.clock_skew_seconds,
                options={"require": _REQUIRED_CLAIMS},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise AuthError(f"signature or claims invalid ({type(exc).__name__})") from None
        now = time.time()
        exp, iat, jti = claims["exp"], claims["iat"], claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise AuthError("jti empty")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise AuthError("exp/iat not numbers")
        skew = self.settings.clock_skew_seconds
        if iat > now + skew:
            raise AuthError("issued in the future")
        if exp - iat > self.settings.max_token_lifetime_seconds:
            raise AuthError("token lives too long")
        if not self.replay.check_and_add(trusted.iss, jti, float(exp) + skew):
            raise AuthError("jti replayed")
        sub = claims.get("sub")
        tenant = claims.get("tenant")
        return Caller(
            iss=trusted.iss,
            sub=sub if isinstance(sub, str) else None,
            jti=jti,
            tenant=tenant if isinstance(tenant, str) else None,
            issued_at=float(iat),
        )
