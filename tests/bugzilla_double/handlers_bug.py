"""REST resources under /rest/bug: get, search, create, update, comments, history, attachments."""

from __future__ import annotations

import base64
from typing import Any

from . import errors as E
from .bugview import bug_json, can_see, load_bugs, parse_field_list, wanted_fields
from .bugwrite import add_attachment, add_comment, create_bug, resolve_bug, update_bugs
from .context import Request
from .search import parse_date, search
from .state import format_ts


def _fields(req: Request, single: bool) -> list[str]:
    return wanted_fields(parse_field_list(req.params("include_fields")),
                         parse_field_list(req.params("exclude_fields")), req.viewer, single)


def get_bug(req: Request, ref: str) -> Any:
    """GET /rest/bug/<id>: Bug.get (404/101 for a missing bug, unlike a search)."""
    with req.state.lock:
        bug = resolve_bug(req.state, req.viewer, ref)
        fields = _fields(req, single=True)
        return {"bugs": [bug_json(req.state, bug, fields)], "faults": []}


def search_bugs(req: Request) -> Any:
    """GET /rest/bug: Bug.search; ids that do not exist are silently dropped."""
    query = dict(req.query)
    for key, value in req.body.items():
        query.setdefault(key, [str(v) for v in value] if isinstance(value, list) else
                         [str(value)])
    with req.state.lock:
        bugs = search(req.state, req.viewer, query)
        fields = _fields(req, single=False)
        return {"bugs": [bug_json(req.state, b, fields) for b in bugs]}


def post_bug(req: Request) -> Any:
    bug_id, event = create_bug(req.state, req.viewer, req.body)
    req.events.append(event)
    return {"id": bug_id}


def put_bug(req: Request, ref: str | None = None) -> Any:
    # The body's ids win over the path's (contract 099: PUT /bug/7 with ids [7, 8] updates both).
    ids: list[Any] = list(req.body.get("ids") or ([ref] if ref is not None else []))
    if not ids:
        raise E.missing_param("Bug.update", "ids")
    params = {k: v for k, v in req.body.items() if k != "ids"}
    results, events = update_bugs(req.state, req.viewer, ids, params)
    req.events.extend(events)
    return {"bugs": results}


def _only(req: Request, obj: dict[str, Any]) -> dict[str, Any]:
    """Applies include_fields/exclude_fields to a comment or attachment, as Bugzilla does."""
    include = parse_field_list(req.params("include_fields"))
    exclude = set(parse_field_list(req.params("exclude_fields")))
    if include and "_all" not in include and "_default" not in include:
        obj = {k: v for k, v in obj.items() if k in include}
    return {k: v for k, v in obj.items() if k not in exclude}


def _comment_json(row: Any, st: Any, count: int) -> dict[str, Any]:
    ts = format_ts(int(row["ts"]))
    return {"id": row["id"], "bug_id": row["bug_id"], "count": count,
            "creator": st.user(row["who"]).login, "time": ts, "creation_time": ts,
            "text": row["text"], "is_private": bool(row["is_private"]), "tags": [],
            "attachment_id": row["attachment_id"]}


def get_comments(req: Request, ref: str | None = None) -> Any:
    st = req.state
    since = None
    if req.param("new_since"):
        since = parse_date(req.param("new_since"), st.clock.now())
    insider = req.viewer is not None and req.viewer.in_group("editbugs")
    with st.lock:
        bugs: dict[str, Any] = {}
        refs = req.params("ids") + ([ref] if ref else [])
        for raw in dict.fromkeys(refs):
            bug = resolve_bug(st, req.viewer, raw)
            rows = st.db.execute("SELECT * FROM comments WHERE bug_id=? ORDER BY id", (bug.id,))
            items = [_comment_json(r, st, i) for i, r in enumerate(rows)
                     if (insider or not r["is_private"])]
            if since is not None:
                items = [c for c in items if parse_date(c["creation_time"], 0) >= since]
            bugs[str(bug.id)] = {"comments": [_only(req, c) for c in items]}
        comments: dict[str, Any] = {}
        for cid in req.params("comment_ids"):
            row = st.db.execute("SELECT * FROM comments WHERE id=?", (int(cid),)).fetchone()
            if row is None:
                raise E.BugzillaError(404, 111, f"There is no comment with the id '{cid}'.")
            bug = resolve_bug(st, req.viewer, row["bug_id"])
            count = st.db.execute("SELECT count(*) FROM comments WHERE bug_id=? AND id<?",
                                  (bug.id, row["id"])).fetchone()[0]
            comments[str(cid)] = _only(req, _comment_json(row, st, count))
    return {"bugs": bugs, "comments": comments}


def get_comment_by_id(req: Request, cid: str) -> Any:
    req.query = {**req.query, "comment_ids": [cid]}
    return get_comments(req)


def post_comment(req: Request, ref: str) -> Any:
    cid, event = add_comment(req.state, req.viewer, ref, req.body)
    req.events.append(event)
    return 201, {"id": cid}


def get_history(req: Request, ref: str) -> Any:
    st = req.state
    since = parse_date(req.param("new_since"), st.clock.now()) if req.param("new_since") else 0
    out = []
    with st.lock:
        for raw in dict.fromkeys([ref, *req.params("ids")]):
            bug = resolve_bug(st, req.viewer, raw)
            groups: dict[tuple[int, int], list[dict[str, str]]] = {}
            for row in st.db.execute("SELECT * FROM activity WHERE bug_id=? AND ts>=? "
                                     "ORDER BY id", (bug.id, since)):
                groups.setdefault((row["ts"], row["who"]), []).append(
                    {"field_name": row["field"], "removed": row["removed"],
                     "added": row["added"]})
            history = [{"when": format_ts(ts), "who": st.user(who).login, "changes": changes}
                       for (ts, who), changes in groups.items()]
            out.append({"id": bug.id, "alias": [], "history": history})
    return {"bugs": out}


def _attachment_json(row: Any, st: Any) -> dict[str, Any]:
    ts = format_ts(int(row["ts"]))
    out = {"id": row["id"], "bug_id": row["bug_id"], "file_name": row["file_name"],
           "summary": row["summary"], "content_type": row["content_type"],
           "creator": st.user(row["creator"]).login, "creation_time": ts,
           "last_change_time": ts, "size": len(row["data"]), "is_patch": row["is_patch"],
           "is_private": row["is_private"], "is_obsolete": row["is_obsolete"], "flags": [],
           "data": base64.b64encode(row["data"]).decode("ascii")}
    return out


def get_attachments(req: Request, ref: str) -> Any:
    """``GET /rest/bug/<id>/attachment?ids=<id>&ids=...``: Bugzilla 5.2 merges the path's bug
    with the ``ids`` of the query string (one request for many bugs, as for comments); a bug
    that does not exist or is not visible fails the whole call. Private attachments are shown
    to insiders only."""
    st = req.state
    insider = req.viewer is not None and req.viewer.in_group("editbugs")
    with st.lock:
        bugs: dict[str, Any] = {}
        for raw in dict.fromkeys([ref, *req.params("ids")]):
            bug = resolve_bug(st, req.viewer, raw)
            rows = st.db.execute("SELECT * FROM attachments WHERE bug_id=? ORDER BY id",
                                 (bug.id,))
            bugs[str(bug.id)] = [_only(req, _attachment_json(r, st)) for r in rows
                                 if insider or not r["is_private"]]
        return {"bugs": bugs, "attachments": {}}


def get_attachment_by_id(req: Request, aid: str) -> Any:
    st = req.state
    with st.lock:
        row = st.db.execute("SELECT * FROM attachments WHERE id=?", (int(aid),)).fetchone()
        if row is None:
            raise E.BugzillaError(404, 100, f"Attachment #{aid} does not exist.")
        bug = load_bugs(st, [row["bug_id"]])[row["bug_id"]]
        if not can_see(req.viewer, bug):
            raise E.bug_not_visible(bug.id)
        return {"bugs": {}, "attachments": {str(aid): _only(req, _attachment_json(row, st))}}


def post_attachment(req: Request, ref: str) -> Any:
    ids = list(req.body.get("ids") or [ref])
    attach_ids, events = add_attachment(req.state, req.viewer, ids, req.body)
    req.events.extend(events)
    return 201, {"ids": attach_ids}
