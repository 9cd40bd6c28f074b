"""Replays the recorded Bugzilla 5.2 contract against a fresh double and compares answers."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.bugzilla_double import BugzillaDouble

REPO = Path(__file__).resolve().parents[2]
# The recorded clock: the recording's first bug was filed at 00:22:10 on this day.
REPLAY_START = "2026-11-27T00:21:20Z"
# Values that differ naturally between two servers (times, random tokens).
VOLATILE_KEYS = frozenset({"last_change_time", "creation_time", "time", "when", "creation_date",
                           "modification_date", "token", "update_token"})
# Lists whose order Bugzilla does not define (hash or DB order): compared sorted.
UNORDERED_LISTS = {"users": "id", "groups": "id", "changes": "field_name"}


def contract_dir() -> Path:
    """``<repo>/../shared/bugzilla-contract`` unless ``XENTRIAGE_CONTRACT_DIR`` says otherwise."""
    env = os.environ.get("XENTRIAGE_CONTRACT_DIR")
    return Path(env) if env else REPO.parent / "shared" / "bugzilla-contract"


def recording_files(directory: Path | None = None) -> list[Path]:
    d = directory or contract_dir()
    return sorted(p for p in d.glob("[0-9][0-9][0-9]_*.json"))


@dataclass
class Replayed:
    recording: dict[str, Any]
    status: int
    body: Any


class Replayer:
    """Sends the recorded requests in order, lazily, so any single case can be asked for."""

    def __init__(self, files: list[Path], double: BugzillaDouble) -> None:
        self.files = files
        self.double = double
        self.results: dict[str, Replayed] = {}
        self.tokens: dict[str, str] = {}
        self._next = 0
        self.session = requests.Session()

    def result(self, name: str) -> Replayed:
        while name not in self.results:
            if self._next >= len(self.files):
                raise KeyError(name)
            self._replay(self.files[self._next])
            self._next += 1
        return self.results[name]

    def replay_all(self) -> None:
        self.result(self.files[-1].name)

    def _replay(self, path: Path) -> None:
        rec = json.loads(path.read_text(encoding="utf-8"))
        rq = rec["request"]
        # One second per call, like the recording session (it also keeps each update in its
        # own second, so Bugzilla's same-second mail loss does not kick in by accident).
        self.double.advance_clock(1)
        query = {k: [self.tokens.get(v, v) for v in vs] for k, vs in rq["query"].items()}
        headers = {k: v for k, v in rq["headers"].items()
                   if k.lower() in ("x-bugzilla-api-key", "content-type", "accept")}
        url = self.double.base_url.rstrip("/") + rq["path"]
        resp = self.session.request(rq["method"], url, params=query, headers=headers,
                                    json=rq["json_body"] if rq["json_body"] is not None else None,
                                    timeout=10)
        try:
            body: Any = resp.json()
        except ValueError:
            body = resp.text
        recorded = rec["response"].get("json")
        if isinstance(recorded, dict) and "token" in recorded and isinstance(body, dict):
            self.tokens[recorded["token"]] = str(body.get("token"))
        self.results[path.name] = Replayed(rec, resp.status_code, body)


def _describe(value: Any) -> str:
    return type(value).__name__


def compare(recorded: Any, actual: Any, path: str = "$", key: str = "") -> list[str]:
    """Differences in structure (keys, JSON types, list lengths) and in stable values."""
    problems: list[str] = []
    if type(recorded) is not type(actual) and not (recorded is None and actual is None):
        return [f"{path}: type {_describe(actual)} != recorded {_describe(recorded)}"]
    if isinstance(recorded, dict):
        missing = sorted(set(recorded) - set(actual))
        extra = sorted(set(actual) - set(recorded))
        if missing or extra:
            problems.append(f"{path}: missing keys {missing}, unexpected keys {extra}")
        for k in sorted(set(recorded) & set(actual)):
            problems.extend(compare(recorded[k], actual[k], f"{path}.{k}", k))
    elif isinstance(recorded, list):
        if len(recorded) != len(actual):
            return [f"{path}: {len(actual)} items != recorded {len(recorded)}"]
        if key in UNORDERED_LISTS and all(isinstance(x, dict) for x in recorded + actual):
            sort_key = UNORDERED_LISTS[key]
            recorded = sorted(recorded, key=lambda x: str(x.get(sort_key)))
            actual = sorted(actual, key=lambda x: str(x.get(sort_key)))
        for i, (r, a) in enumerate(zip(recorded, actual, strict=True)):
            problems.extend(compare(r, a, f"{path}[{i}]", key))
    elif key not in VOLATILE_KEYS and recorded != actual:
        problems.append(f"{path}: {actual!r} != recorded {recorded!r}")
    return problems
