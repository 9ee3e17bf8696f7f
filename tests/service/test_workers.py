"""The forked workers' balancing layer (service/workers.py Balance): a worker busier than another closes the
connection of the answer it sends, so the client's next call is accepted afresh; otherwise answers are
untouched."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eligibility.service.workers import Balance

# (calls in flight per worker while worker 0 answers, including this call; whether worker 0 closes)
CASES = [
    ([1, 0], False),  # alone: nothing to balance
    ([2, 1], False),  # after this answer 1 in flight here, 1 there: even
    ([2, 2], False),
    ([3, 2], False),
    ([1, 1], False),
    ([2, 0], True),  # one more call here while the other worker is idle
    ([3, 1], True),
    ([4, 0], True),
    ([3, 1, 1], True),
    ([3, 2, 3], False),
    ([1], False),  # a single worker never sheds
    ([5], False),
]


@pytest.mark.parametrize(("load", "closes"), CASES)
def test_a_worker_sheds_only_when_busier_than_the_least_busy_other(load: list[int], closes: bool) -> None:
    assert Balance(_app(), load, 0).shed() is closes


def _app(headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers or [])})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def _answer(balance: Balance) -> tuple[list[dict[str, Any]], list[int]]:
    sent: list[dict[str, Any]] = []
    during: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        during.append(balance.load[balance.me])
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    asyncio.run(balance({"type": "http", "method": "POST", "path": "/"}, receive, send))
    return sent, during


@pytest.mark.parametrize(
    ("here", "there", "header_added"),
    [  # calls already in flight in this worker and in the other one when this call comes in
        (0, 0, False),  # alone: kept alive
        (1, 1, False),  # even
        (0, 3, False),  # the other is the busier one: its answers shed, not these
        (1, 0, True),  # another call here while the other worker idles
        (2, 1, True),
    ],
)
def test_the_answer_gets_connection_close_only_when_shedding(here: int, there: int, header_added: bool) -> None:
    load = [here, there]
    balance = Balance(_app([(b"content-type", b"application/json")]), load, 0)
    sent, during = _answer(balance)
    headers = sent[0]["headers"]
    assert ((b"connection", b"close") in headers) is header_added
    assert (b"content-type", b"application/json") in headers
    assert sent[1] == {"type": "http.response.body", "body": b"{}"}
    assert during == [here + 1, here + 1]  # counted while in flight ...
    assert load == [here, there]  # ... and not after


def test_an_answer_that_already_names_its_connection_is_left_alone() -> None:
    load = [1, 0]  # shedding
    sent, _ = _answer(Balance(_app([(b"Connection", b"keep-alive")]), load, 0))
    assert sent[0]["headers"] == [(b"Connection", b"keep-alive")]


def test_a_failing_app_still_leaves_the_count() -> None:
    async def boom(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("x")

    load = [0, 0]
    with pytest.raises(RuntimeError):
        asyncio.run(Balance(boom, load, 0)({"type": "http"}, None, None))  # type: ignore[arg-type]
    assert load == [0, 0]
