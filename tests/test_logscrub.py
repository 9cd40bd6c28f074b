"""Secrets are masked at the handler: records of child loggers and tracebacks included."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import textwrap

from triage.logscrub import SecretScrubber

KEY = "K3yFromTheEnvironment0000000000000000042"


def _handler_with(scrubber: SecretScrubber) -> tuple[logging.Handler, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    handler.addFilter(scrubber)
    return handler, out


def test_a_handler_filter_masks_records_of_child_loggers() -> None:
    scrubber = SecretScrubber()
    scrubber.add(KEY, "<api-key>")
    handler, out = _handler_with(scrubber)
    parent = logging.getLogger("xt_scrub_test")
    parent.addHandler(handler)
    parent.setLevel(logging.DEBUG)
    try:
        child = logging.getLogger("xt_scrub_test._backendrest")
        child.debug("GET %s", f"http://127.0.0.1/rest/bug?id=1&Bugzilla_api_key={KEY}")
        child.info({"url": f"/rest/bug?api_key={KEY}"})  # a non-string message
        try:
            raise ConnectionError(f"Max retries exceeded with url: /rest/bug?api_key={KEY}")
        except ConnectionError:
            child.exception("request failed")
    finally:
        parent.removeHandler(handler)
    text = out.getvalue()
    assert KEY not in text
    assert text.count("<api-key>") == 3
    assert "Bugzilla_api_key=<api-key>" in text and "Traceback" in text


def test_a_logger_filter_alone_misses_the_child_logger() -> None:
    # Why the filter sits on the handler: this is the leak the handler filter closes.
    scrubber = SecretScrubber()
    scrubber.add(KEY)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    parent = logging.getLogger("xt_scrub_leak")
    parent.addFilter(scrubber)
    parent.addHandler(handler)
    parent.setLevel(logging.DEBUG)
    try:
        logging.getLogger("xt_scrub_leak.child").debug("key=%s", KEY)
    finally:
        parent.removeHandler(handler)
    assert KEY in out.getvalue()


def test_arguments_that_do_not_carry_a_secret_are_left_alone() -> None:
    scrubber = SecretScrubber()
    scrubber.add(KEY)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d bugs", (3,), None)
    assert scrubber.filter(record)
    assert record.args == (3,) and record.getMessage() == "3 bugs"


def test_the_cli_logging_set_up_masks_a_configured_key_from_bugzilla_backendrest(
        tmp_path: object) -> None:
    """End to end in a fresh interpreter: the key comes from the environment through the
    configuration's Secret, the CLI installs its logging, and python-bugzilla's REST backend
    logger (a child of ``bugzilla``) logs the URL and an exception carrying it."""
    script = textwrap.dedent("""
        import logging
        from triage.cli.common import configure_logging
        from triage.config import Secret

        configure_logging(logging.DEBUG)
        key = Secret("bugzilla.api_key", env="XT_TEST_BZ_KEY").get()
        rest = logging.getLogger("bugzilla._backendrest")
        rest.debug("Bugzilla GET url=%s", "http://127.0.0.1:1/rest/bug?Bugzilla_api_key=" + key)
        try:
            raise OSError("connection refused: /rest/bug/1?api_key=" + key)
        except OSError as exc:
            rest.error("giving up: %s", exc, exc_info=True)
        logging.getLogger("urllib3.connectionpool").debug('"GET /rest/bug?api_key=%s" 200', key)
    """)
    env = dict(os.environ, XT_TEST_BZ_KEY=KEY)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    assert KEY not in done.stderr
    assert done.stderr.count("<secret>") >= 4  # message, exception arg, traceback, urllib3
    assert "Traceback" in done.stderr and "bugzilla._backendrest" in done.stderr
