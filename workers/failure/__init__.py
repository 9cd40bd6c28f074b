"""Failure classes and signatures from a cell's log (pure; no I/O, no heavy imports).

Used by the worker's verdict (``workers.cell``) while the log streams, and by the triage side
(``xentriage ci classify``, CI linking) on a stored log: one extractor, so a signature computed
on the worker matches one computed later from the log.
"""

from workers.failure.classify import (
    BOOT_FAILED,
    BOOT_SKIPPED,
    BOOT_TIMEOUT,
    BUILD_FAILED,
    CLASSES,
    ENVIRONMENT,
    PASSED,
    UNSUPPORTED,
    Classification,
    LogClassifier,
)
from workers.failure.logformat import classify_lines, classify_stream

__all__ = [
    "BOOT_FAILED",
    "BOOT_SKIPPED",
    "BOOT_TIMEOUT",
    "BUILD_FAILED",
    "CLASSES",
    "ENVIRONMENT",
    "PASSED",
    "UNSUPPORTED",
    "Classification",
    "LogClassifier",
    "classify_lines",
    "classify_stream",
]
