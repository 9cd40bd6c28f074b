"""The one place that uses python-bugzilla's private surface: batched per-bug reads over REST.

Why it exists: Bugzilla's REST API answers comments, history and attachment metadata of *many*
bugs in one request (``GET /rest/bug/<id>/comment?ids=<id2>&ids=<id3>``, the same for
``/history`` and ``/attachment``), but python-bugzilla's public calls for them
(``get_comments``, ``bugs_history_raw``, ``get_attachments``) loop over the ids under REST and
make one request per bug: 5,000 requests instead of 10 for a full sync. Everything else the
gateway does goes through the public API (``query``, ``update_bugs``, ``createbug``,
``getusers``).

What it relies on (``PRIVATE_SURFACE``): ``Bugzilla._backend`` is the REST backend, whose
``bug_comments(bug_ids, paramdict)``, ``bug_history(bug_ids, paramdict)`` and
``bug_attachment_get_all(bug_ids, paramdict)`` send ``paramdict`` as the query string of
``GET /bug/<id>/<what>`` for each id and return Bugzilla's JSON merged. Called with one id and
``{"ids": [the others]}``, each makes exactly one request for the whole batch.
``tests/gateway/test_batched_shim.py`` fails when a python-bugzilla release changes any of
that (names, parameters, or one-request-per-batch); :func:`surface_problems` says what changed.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

# backend method -> the parameters it must take, in order (after self)
PRIVATE_SURFACE: dict[str, tuple[str, ...]] = {
    "bug_comments": ("bug_ids", "paramdict"),
    "bug_history": ("bug_ids", "paramdict"),
    "bug_attachment_get_all": ("bug_ids", "paramdict"),
}


def surface_problems(backend_class: type) -> list[str]:
    """What differs between ``backend_class`` and the surface this module relies on."""
    problems: list[str] = []
    for name, params in PRIVATE_SURFACE.items():
        method = getattr(backend_class, name, None)
        if not callable(method):
            problems.append(f"{backend_class.__name__}.{name} is gone")
            continue
        got = tuple(p for p in inspect.signature(method).parameters if p != "self")
        if got != params:
            problems.append(f"{backend_class.__name__}.{name}{got} (expected {params})")
    return problems


def _backend(client: Any) -> Any:
    backend = getattr(client, "_backend", None)
    if backend is None:
        raise RuntimeError("python-bugzilla has no Bugzilla._backend any more: "
                           "triage/adapters/bugzilla_batched.py needs updating")
    return backend


def _one_request(batch: Sequence[int], params: dict[str, Any]) -> tuple[list[int], dict[str, Any]]:
    """The first id goes in the path, the others in ``ids``: one request for the batch."""
    first, rest = int(batch[0]), [int(i) for i in batch[1:]]
    query = dict(params)
    if rest:
        query["ids"] = rest
    return [first], query


def comments(client: Any, batch: Sequence[int], params: dict[str, Any]) -> dict[str, Any]:
    """``GET /rest/bug/<first>/comment?ids=..``: Bugzilla's JSON (``{"bugs": {id: ...}}``)."""
    ids, query = _one_request(batch, params)
    return dict(_backend(client).bug_comments(ids, query))


def history(client: Any, batch: Sequence[int], params: dict[str, Any]) -> dict[str, Any]:
    """``GET /rest/bug/<first>/history?ids=..``: Bugzilla's JSON (``{"bugs": [...]}``)."""
    ids, query = _one_request(batch, params)
    return dict(_backend(client).bug_history(ids, query))


def attachments(client: Any, batch: Sequence[int], params: dict[str, Any]) -> dict[str, Any]:
    """``GET /rest/bug/<first>/attachment?ids=..``: Bugzilla's JSON (``{"bugs": {id: [...]}}``)."""
    ids, query = _one_request(batch, params)
    return dict(_backend(client).bug_attachment_get_all(ids, query))
