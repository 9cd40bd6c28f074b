"""The project's retry policies, all on tenacity, so a loop that waits and tries again is written
once: exponential back-off with a cap, an optional give-up time, and a stop event that ends the
wait at once (SIGTERM to ``serve`` or ``mail watch`` must not wait out a back-off).

Used by the IMAP source and the mail watcher (:func:`backoff`), the farm's REST client
(:func:`polling`, :func:`attempts`); the Bugzilla gateway builds its own ``Retrying`` because a
write there is retried only when it provably never reached the server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    stop_any,
    stop_when_event_set,
    wait_exponential,
    wait_fixed,
    wait_incrementing,
)
from tenacity.stop import stop_base

OnRetry = Callable[[RetryCallState], None]


class _failing_since(stop_base):
    """Stops once ``seconds`` have passed since ``last_ok()`` (a monotonic time): the give-up
    clock of a long-running loop starts at its last success, not at the first retry."""

    def __init__(self, seconds: float, last_ok: Callable[[], float]) -> None:
        self.seconds = seconds
        self.last_ok = last_ok

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() - self.last_ok() >= self.seconds


def backoff(
    *,
    retry_on: tuple[type[BaseException], ...],
    initial: float,
    maximum: float,
    give_up_after: float = 0.0,
    last_ok: Callable[[], float] | None = None,
    stop_event: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: OnRetry | None = None,
) -> Retrying:
    """Retry ``retry_on`` with waits ``initial``, ``2*initial``, ... up to ``maximum``.

    Gives up (re-raising the last error) ``give_up_after`` seconds (0: never) after the first
    attempt, or after ``last_ok()`` when given; a set ``stop_event`` ends the wait at once and
    stops retrying."""
    until: list[stop_base] = []
    if stop_event is not None:
        until.append(stop_when_event_set(stop_event))
    if give_up_after > 0:
        until.append(_failing_since(give_up_after, last_ok) if last_ok is not None
                     else stop_after_delay(give_up_after))

    def pause(seconds: float) -> None:
        if stop_event is not None:
            stop_event.wait(seconds)
        else:
            sleep(seconds)

    return Retrying(
        retry=retry_if_exception_type(retry_on),
        stop=stop_any(*until),
        wait=wait_exponential(multiplier=initial, min=initial, max=maximum),
        sleep=pause,
        before_sleep=on_retry,
        reraise=True,
    )


def attempts(*, retry_if: Callable[[BaseException], bool], tries: int, step: float,
             sleep: Callable[[float], None] = time.sleep) -> Retrying:
    """At most ``tries`` attempts while ``retry_if(error)``, waiting ``step``, ``2*step``, ...
    between them (short waits for a busy local service); the last error is re-raised."""
    return Retrying(retry=retry_if_exception(retry_if), stop=stop_after_attempt(tries),
                    wait=wait_incrementing(start=step, increment=step), sleep=sleep,
                    reraise=True)


def polling(*, until: Callable[[Any], bool], every: float, timeout: float,
            sleep: Callable[[float], None] = time.sleep) -> Retrying:
    """Call again every ``every`` seconds until the result satisfies ``until``, for at most
    ``timeout`` seconds; then the last result is returned for the caller to judge."""
    return Retrying(retry=retry_if_result(lambda result: not until(result)),
                    stop=stop_after_delay(timeout), wait=wait_fixed(every), sleep=sleep,
                    retry_error_callback=_last_result)


def _last_result(state: RetryCallState) -> Any:
    assert state.outcome is not None
    return state.outcome.result()
