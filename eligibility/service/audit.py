"""The audit trail: one JSON line per hook call, and the keyed hash that keeps patients out of it.

Why a keyed hash (HMAC-SHA256) and not a plain one: patient ids and MRNs are short; a plain SHA-256 of
``Patient/12345`` is reversed by trying every number. The key lives in the state folder (created once,
mode 0600), so the same patient hashes the same across restarts (feedback suppression needs that) and the
audit file alone reveals nothing. Each line holds who (issuer, client id, the user reference unless that
user is a patient or relative), when, the hashed patient reference, which trials were shown with their
verdicts, and each card's id with a hash of its JSON. Never names, identifiers, tokens or chart content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("eligibility.audit")


class Hasher:
    """HMAC-SHA256 with an installation key (from ``state_dir``/audit.key, or random per process)."""

    def __init__(self, state_dir: Path | None):
        if state_dir is None:
            self._key = secrets.token_bytes(32)
            return
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / "audit.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
        self._key = path.read_bytes()

    def __call__(self, value: str) -> str:
        return hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def card_digest(card: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(card, sort_keys=True).encode("utf-8")).hexdigest()[:32]


class AuditTrail:
    """Appends JSON lines to ``state_dir``/audit.jsonl (or, without a state folder, to the audit logger)."""

    def __init__(self, state_dir: Path | None):
        self.path = state_dir / "audit.jsonl" if state_dir else None
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps({"at": datetime.now(UTC).isoformat(timespec="milliseconds"), **record}, sort_keys=True)
        if self.path is None:
            log.info("%s", line)
            return
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
