"""The classes a cell's log can show and the classification's data (pure)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

PASSED, BUILD_FAILED, BOOT_FAILED, BOOT_TIMEOUT = "passed", "build-failed", "boot-failed", \
    "boot-timeout"
UNSUPPORTED, ENVIRONMENT, BOOT_SKIPPED = "unsupported", "environment", "boot-skipped"
CLASSES = (PASSED, BUILD_FAILED, BOOT_FAILED, BOOT_TIMEOUT, UNSUPPORTED, ENVIRONMENT,
           BOOT_SKIPPED)
# Older verdicts and other farms' words for the same classes.
ALIASES = {"timeout": BOOT_TIMEOUT, "error": ENVIRONMENT}


@dataclass
class Classification:
    cls: str
    signature: str  # 16 hex digits of sha1(class, key); "" when passed
    title: str  # one line for humans: "posix-timerfd: undefined reference to ..."
    key: str  # the normalised text behind the signature
    phase: str  # configure | build | boot | "" (no phase ran)
    rule: str = ""
    library: str | None = None
    evidence: list[str] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def signature_of(cls: str, key: str) -> str:
    return hashlib.sha1(f"{cls}\n{key}".encode(), usedforsecurity=False).hexdigest()[:16]


