"""Card feedback (CDS Hooks 2.0 ``/feedback``) and the suppression it drives, in a small SQLite file.

Why SQLite from the standard library and not the worksheet's database: the hook service must run alone
(no ``--data``), and the only state it needs is which cards went to which (hashed) patient and what the
clinician did with them. A card that is *overridden* hides the trials it listed for that patient for a
configurable number of days. Only a hashed patient reference, trial ids, card ids, the outcome and the
override reason's code are stored: no free-text comment (``userComment`` may hold PHI).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cards (
    uuid TEXT PRIMARY KEY, issuer TEXT NOT NULL, patient TEXT NOT NULL, trials TEXT NOT NULL, issued REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY, card TEXT NOT NULL, issuer TEXT NOT NULL, outcome TEXT NOT NULL,
    reason_system TEXT, reason_code TEXT, outcome_timestamp TEXT, received REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS cards_patient ON cards (issuer, patient);
"""


class FeedbackStore:
    """Cards issued and feedback received; ``path`` None keeps them in memory (lost on restart)."""

    def __init__(self, path: Path | None):
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        with self._lock:
            if path is not None:
                # As the replay cache: a write-ahead log, synced at checkpoints, not at each commit. In the
                # default rollback-journal mode every commit waited for the disk (median 1 ms, p95 ~20 ms
                # here), on the event loop, several times a hook call. A crash of the process loses nothing;
                # a power cut may lose the last commits (cards issued just before; feedback on them then
                # counts as on an unknown card).
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record_card(self, card_uuid: str, issuer: str, patient: str, trials: tuple[str, ...]) -> None:
        self.record_cards(issuer, patient, [(card_uuid, trials)])

    def record_cards(self, issuer: str, patient: str, cards: Sequence[tuple[str, tuple[str, ...]]]) -> None:
        """The cards of one answer (card uuid, the trials it lists), in one transaction."""
        now = time.time()
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO cards VALUES (?, ?, ?, ?, ?)",
                [(card_uuid, issuer, patient, json.dumps(list(trials)), now) for card_uuid, trials in cards],
            )
            self._db.commit()

    def record_feedback(
        self,
        card_uuid: str,
        issuer: str,
        outcome: str,
        reason: tuple[str | None, str | None],
        outcome_timestamp: str | None,
    ) -> bool:
        """Store one feedback item; False when the card is unknown or was issued to another EHR."""
        with self._lock:
            row = self._db.execute("SELECT issuer FROM cards WHERE uuid = ?", (card_uuid,)).fetchone()
            if row is None or row[0] != issuer:
                return False
            self._db.execute(
                "INSERT INTO feedback (card, issuer, outcome, reason_system, reason_code, outcome_timestamp,"
                " received) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (card_uuid, issuer, outcome, reason[0], reason[1], outcome_timestamp, time.time()),
            )
            self._db.commit()
            return True

    def suppressed(self, issuer: str, patient: str, days: float) -> frozenset[str]:
        """Trials on cards overridden for this patient within the last ``days`` days."""
        since = time.time() - days * 86400
        with self._lock:
            rows = self._db.execute(
                "SELECT c.trials FROM cards c JOIN feedback f ON f.card = c.uuid"
                " WHERE c.issuer = ? AND c.patient = ? AND f.outcome = 'overridden' AND f.received >= ?",
                (issuer, patient, since),
            ).fetchall()
        return frozenset(t for (trials,) in rows for t in json.loads(trials))

    def feedback_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])
