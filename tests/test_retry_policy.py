"""The project's retry policies (triage.retry_policy): back-off, give-up, stop, polling."""

from __future__ import annotations

import threading
import time

import pytest

from triage import retry_policy


class Down(Exception):
    pass


def test_backoff_waits_exponentially_up_to_the_cap_then_succeeds() -> None:
    waits: list[float] = []
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 5:
            raise Down(calls)
        return "up"

    policy = retry_policy.backoff(retry_on=(Down,), initial=0.5, maximum=1.5, sleep=waits.append)
    assert policy(flaky) == "up"
    assert waits == [0.5, 1.0, 1.5, 1.5]


def test_other_errors_are_raised_at_once() -> None:
    waits: list[float] = []

    def broken() -> None:
        raise ValueError("bad credentials")

    with pytest.raises(ValueError):
        retry_policy.backoff(retry_on=(Down,), initial=0.1, maximum=1, sleep=waits.append)(broken)
    assert waits == []


def test_give_up_counts_from_the_last_success_and_reraises_the_last_error() -> None:
    last_ok = time.monotonic() - 10  # the last good sweep was ten seconds ago
    tries = 0

    def down() -> None:
        nonlocal tries
        tries += 1
        raise Down(tries)

    policy = retry_policy.backoff(retry_on=(Down,), initial=0.01, maximum=0.01,
                                  give_up_after=5, last_ok=lambda: last_ok,
                                  sleep=lambda s: None)
    with pytest.raises(Down) as info:
        policy(down)
    assert tries == 1 and info.value.args == (1,)


def test_a_set_stop_event_ends_the_wait_at_once() -> None:
    stop = threading.Event()

    def down() -> None:
        stop.set()  # e.g. SIGTERM arrives while the server is down
        raise Down()

    policy = retry_policy.backoff(retry_on=(Down,), initial=30, maximum=60, stop_event=stop)
    started = time.monotonic()
    with pytest.raises(Down):
        policy(down)
    assert time.monotonic() - started < 5


def test_attempts_retries_only_what_retry_if_accepts() -> None:
    waits: list[float] = []
    seen: list[int] = []

    def call() -> None:
        seen.append(1)
        raise Down(len(seen))

    with pytest.raises(Down):
        retry_policy.attempts(retry_if=lambda e: isinstance(e, Down), tries=3, step=0.5,
                              sleep=waits.append)(call)
    assert len(seen) == 3 and waits == [0.5, 1.0]
    seen.clear()
    with pytest.raises(Down):
        retry_policy.attempts(retry_if=lambda e: False, tries=3, step=0.5)(call)
    assert len(seen) == 1


def test_polling_returns_the_first_good_result_or_the_last_one_at_the_timeout() -> None:
    answers = iter([{"a", "b"}, {"b"}, set()])
    assert retry_policy.polling(until=lambda left: not left, every=0, timeout=5)(
        lambda: next(answers)) == set()
    assert retry_policy.polling(until=lambda left: not left, every=0.01, timeout=0.1)(
        lambda: {"w1"}) == {"w1"}
