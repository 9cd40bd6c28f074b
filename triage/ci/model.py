"""One finished cell result as CI linking reads it, from a push or from Buildbot's REST API.

Both sources carry the same fields (the build properties the farm's RunCell step publishes),
so a result pushed and the same build swept are the same row (unique on master + build id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workers.failure import (
    BOOT_FAILED,
    BOOT_SKIPPED,
    BOOT_TIMEOUT,
    BUILD_FAILED,
    ENVIRONMENT,
    PASSED,
    UNSUPPORTED,
)

FAILED = frozenset({BUILD_FAILED, BOOT_FAILED, BOOT_TIMEOUT})
NOT_VERIFIED = frozenset({UNSUPPORTED, BOOT_SKIPPED})
KNOWN = FAILED | NOT_VERIFIED | {PASSED, ENVIRONMENT}
AXES = ("tree", "app", "libset", "platform", "arch")


class BadResult(ValueError):
    """A post or a build that is not a cell result (named field missing or of the wrong type)."""


@dataclass(frozen=True)
class CellResult:
    master: str
    build_id: int
    cell: str
    result: str  # workers.failure class: passed, build_failed, boot_failed, environment, ...
    revision: str
    finished_at: datetime
    signature: str = ""
    title: str = ""
    reason: str = ""
    evidence: tuple[str, ...] = ()
    build_url: str = ""
    worker: str = ""
    axes: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.result in FAILED

    def to_json(self) -> dict[str, Any]:
        return {"master": self.master, "build_id": self.build_id, "cell": self.cell,
                "result": self.result, "revision": self.revision,
                "finished_at": self.finished_at.isoformat(), "signature": self.signature,
                "title": self.title, "reason": self.reason, "evidence": list(self.evidence),
                "build_url": self.build_url, "worker": self.worker, "axes": dict(self.axes)}


def _text(doc: dict[str, Any], key: str, *, required: bool = False, limit: int = 2000) -> str:
    value = doc.get(key)
    if value is None or value == "":
        if required:
            raise BadResult(f"missing field {key!r}")
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise BadResult(f"field {key!r} must be text")
    return str(value)[:limit]


def axes_of(cell: str, given: Any) -> dict[str, str]:
    """The cell's axes as the farm published them; else read from the name
    (``app-libset-platform-arch``, platform and arch never contain a hyphen)."""
    if isinstance(given, dict) and given:
        return {k: str(given.get(k, "")) for k in AXES}
    head, _, arch = cell.rpartition("-")
    head, _, platform = head.rpartition("-")
    app, _, libset = head.partition("-")
    return {"tree": "", "app": app, "libset": libset or "base", "platform": platform,
            "arch": arch}


def from_payload(doc: Any) -> CellResult:
    """A pushed result (farm.reporter's JSON body)."""
    if not isinstance(doc, dict):
        raise BadResult("the body is not a JSON object")
    try:
        build_id = int(doc.get("build_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadResult("missing or non-integer field 'build_id'") from None
    result = _text(doc, "result", required=True)
    if result not in KNOWN:
        raise BadResult(f"unknown result {result[:40]!r}")
    finished = _text(doc, "finished_at", required=True)
    try:
        when = datetime.fromisoformat(finished)
    except ValueError:
        raise BadResult("field 'finished_at' is not an ISO time") from None
    evidence = doc.get("evidence") or []
    if not isinstance(evidence, list) or not all(isinstance(e, str) for e in evidence):
        raise BadResult("field 'evidence' must be a list of text")
    cell = _text(doc, "cell", required=True, limit=255)
    return CellResult(
        master=_text(doc, "master", limit=255), build_id=build_id, cell=cell, result=result,
        revision=_text(doc, "revision", limit=64),
        finished_at=when if when.tzinfo else when.replace(tzinfo=UTC),
        signature=_text(doc, "signature", limit=255), title=_text(doc, "title", limit=300),
        reason=_text(doc, "reason"), evidence=tuple(e[:500] for e in evidence[:20]),
        build_url=_text(doc, "build_url", limit=500), worker=_text(doc, "worker", limit=255),
        axes=axes_of(cell, doc.get("axes")))


def from_buildbot(build: dict[str, Any], master: str, buildbot_url: str) -> CellResult | None:
    """A build from ``/api/v2/builds?property=*`` (properties as ``{name: [value, source]}``);
    None for a build that is not a cell's (no ``cell`` property) or has no verdict."""
    props = {k: v[0] for k, v in (build.get("properties") or {}).items()
             if isinstance(v, list) and v}
    if not props.get("cell") or not props.get("cell_result"):
        return None
    finished = build.get("complete_at") or build.get("started_at") or 0
    url = (f"{buildbot_url.rstrip('/')}/#/builders/{build.get('builderid')}"
           f"/builds/{build.get('number')}")
    evidence = props.get("evidence") or []
    return from_payload({
        "master": master, "build_id": build.get("buildid"), "cell": props["cell"],
        "result": props["cell_result"], "revision": props.get("revision") or "",
        "finished_at": datetime.fromtimestamp(float(finished), UTC).isoformat(),
        "signature": props.get("signature") or "", "title": props.get("title") or "",
        "reason": props.get("result_reason") or "",
        "evidence": evidence if isinstance(evidence, list) else [],
        "build_url": url, "worker": props.get("workername") or "",
        "axes": props.get("cell_axes") or {}})
