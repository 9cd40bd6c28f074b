"""Writing bugs: create, update (fields, keywords, CC, flags, comments), comments, attachments.

Each public function runs inside one SQLite transaction: every check happens before anything is
visible, so a request that fails half-way leaves no trace (like Bugzilla's DB transaction).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import errors as E
from .bugview import BugRecord, load_bugs
from .events import CHANGE_ORDER, FIELD_INFO, BugEvent, FieldChange, FlagRequest, NewComment
from .state import OP_SYSES, PLATFORMS, PRIORITIES, SEVERITIES, State, User


@contextmanager
def transaction(state: State) -> Iterator[None]:
    with state.lock:
        state.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            state.db.execute("ROLLBACK")
            raise
        state.db.execute("COMMIT")


def _check_choice(value: Any, allowed: tuple[str, ...], kind: str) -> str:
    if str(value) not in allowed:
        raise E.no_such_value(kind, str(value))
    return str(value)


def resolve_bug(state: State, viewer: User | None, raw: object) -> BugRecord:
    """The bug a path or ``ids`` entry names, with Bugzilla's 100/101/102 errors."""
    text = str(raw).strip()
    if not text.isdigit():
        raise E.invalid_bug_id(text)
    bug = load_bugs(state, [int(text)]).get(int(text))
    if bug is None:
        raise E.bug_not_found(text)
    from .bugview import can_see

    if not can_see(viewer, bug):
        raise E.bug_not_visible(bug.id)
    return bug


def create_bug(state: State, who: User | None, p: dict[str, Any]) -> tuple[int, BugEvent]:
    if who is None:
        raise E.login_required()
    with transaction(state):
        product = state.product_by_name(str(p.get("product", "")))
        if product is None:
            raise E.BugzillaError(
                401, 106, f"Sorry, either the product {p.get('product', '')} does not exist or "
                "you aren't authorized to enter a bug into it.")
        pname = product["name"]
        comp = state.component(product["id"], str(p.get("component", "")))
        if comp is None:
            raise E.no_such_value("component", str(p.get("component", ""))).with_suffix(
                f" in the '{pname}' product.")
        version = str(p.get("version", ""))
        if version not in state.names("versions", product["id"]):
            raise E.no_such_value("version", version).with_suffix(f" in the '{pname}' product.")
        summary = str(p.get("summary", "")).strip()
        if not summary:
            raise E.BugzillaError(400, 107, "You must enter a summary for this bug.")
        platform = _check_choice(p.get("platform", "All"), PLATFORMS, "Hardware")
        op_sys = _check_choice(p.get("op_sys", "All"), OP_SYSES, "OS")
        severity = _check_choice(p.get("severity", "normal"), SEVERITIES, "Severity")
        priority = _check_choice(p.get("priority", "---"), PRIORITIES, "Priority")
        milestone = str(p.get("target_milestone", product["default_milestone"]))
        if milestone not in state.names("milestones", product["id"]):
            raise E.no_such_value("milestone", milestone)
        wf = state.workflow
        may_confirm = who.in_group("canconfirm") or who.in_group("editbugs")
        if "status" in p:
            status = str(p["status"])
            if status not in wf.statuses:
                raise E.no_such_value("status", status)
            if status not in wf.initial or (status != wf.unconfirmed and not may_confirm
                                            and product["has_unconfirmed"]):
                raise E.BugzillaError(400, 123, f"You are not allowed to file a bug with the "
                                      f"status {status}.")
        elif may_confirm or not product["has_unconfirmed"]:
            status = wf.confirmed_default
        else:
            status = wf.unconfirmed
        assignee = (state.check_user(str(p["assigned_to"])) if p.get("assigned_to")
                    else state.user(comp["default_assignee"]))
        qa = state.check_user(str(p["qa_contact"])) if p.get("qa_contact") else None
        cc = [state.check_user(str(c)) for c in _as_list(p.get("cc"))]
        keywords = _as_list(p.get("keywords"))
        known = set(state.keyword_names())
        for kw in keywords:
            if kw not in known:
                raise _unknown_keyword(kw)
        now = state.clock.now()
        cur = state.db.execute(
            "INSERT INTO bugs (product_id, component_id, version, summary, status, everconfirmed,"
            " platform, op_sys, severity, priority, target_milestone, assigned_to, qa_contact,"
            " reporter, whiteboard, url, creation_ts, delta_ts) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (product["id"], comp["id"], version, summary, status, int(status != wf.unconfirmed),
             platform, op_sys, severity, priority, milestone, assignee.id,
             qa.id if qa else None, who.id, str(p.get("whiteboard", "")), str(p.get("url", "")),
             now, now),
        )
        bug_id = int(cur.lastrowid or 0)
        state.db.executemany("INSERT OR IGNORE INTO bug_cc VALUES (?,?)",
                             [(bug_id, u.id) for u in cc])
        state.db.executemany("INSERT OR IGNORE INTO bug_keywords VALUES (?,?)",
                             [(bug_id, k) for k in keywords])
        # Bugzilla trims trailing whitespace from every comment.
        text = str(p.get("description", p.get("comment", ""))).rstrip()
        cur = state.db.execute(
            "INSERT INTO comments (bug_id, who, ts, text, is_private) VALUES (?,?,?,?,?)",
            (bug_id, who.id, now, text, int(bool(p.get("comment_is_private")))))
        comment = NewComment(int(cur.lastrowid or 0), 0, text)
    return bug_id, BugEvent("new", bug_id, who, now, comment=comment)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _unknown_keyword(kw: str) -> E.BugzillaError:
    return E.no_such_value("keyword", kw, " See the list of available keywords.")


def _flag_text(name: str, status: str, requestee: User | None) -> str:
    return f"{name}{status}" + (f"({requestee.login})" if requestee else "")


class _BugUpdate:
    """Applies one update request to one bug, collecting changes in Bugzilla's order."""

    def __init__(self, state: State, who: User, bug: BugRecord, now: int) -> None:
        self.state, self.who, self.bug, self.now = state, who, bug, now
        self.columns: dict[str, Any] = {}
        self.changes: dict[str, FieldChange] = {}
        self.flag_requests: list[FlagRequest] = []
        self.privileged = who.in_group("editbugs")

    def change(self, field: str, removed: str, added: str, column: str | None = None,
               value: Any = None) -> None:
        if removed == added:
            return
        if not self._may_change(field):
            label = FIELD_INFO[field][1] if field in FIELD_INFO else field
            raise E.BugzillaError(
                401, 115, f"You tried to change the {label} field from {removed} to {added}, "
                "but only the assignee of the bug, or a user with the required permissions may "
                "change that field.")
        self.changes[field] = FieldChange(field, removed, added)
        if column:
            self.columns[column] = value

    def _may_change(self, field: str) -> bool:
        """Bugzilla's check_can_change_field, for users without editbugs.

        Anyone logged in may comment, CC and set flags; the assignee and QA contact may change
        everything else; the reporter everything but the assignment and triage fields; others
        nothing. Status moves have their own rule (error 123) in ``_apply_status``.
        """
        if self.privileged or field in ("cc", "flagtypes.name", "status", "resolution",
                                        "is_confirmed"):
            return True
        bug, who = self.bug, self.who.id
        if who in (bug["assigned_to"], bug["qa_contact"]):
            return True
        restricted = ("assigned_to", "qa_contact", "priority", "target_milestone")
        return who == bug["reporter"] and field not in restricted

    def apply_scalars(self, p: dict[str, Any]) -> None:
        st, bug = self.state, self.bug
        if "assigned_to" in p:
            new = st.check_user(str(p["assigned_to"]))
            old = st.user(int(bug["assigned_to"]))  # type: ignore[call-overload]
            self.change("assigned_to", old.login, new.login, "assigned_to", new.id)
        if "status" in p:
            self._apply_status(str(p["status"]), p.get("resolution"))
        elif "resolution" in p:
            self._apply_resolution(str(bug["status"]), str(p["resolution"]))
        for field, kinds in (("platform", (PLATFORMS, "Hardware")), ("op_sys", (OP_SYSES, "OS")),
                             ("severity", (SEVERITIES, "Severity")),
                             ("priority", (PRIORITIES, "Priority"))):
            if field in p:
                value = _check_choice(p[field], *kinds)
                self.change(field, str(bug[field]), value, field, value)
        for field in ("summary", "url", "whiteboard"):
            if field in p:
                value = str(p[field])
                self.change(field, str(bug[field]), value, field, value)
        if "version" in p:
            version = str(p["version"])
            if version not in st.names("versions", int(bug["product_id"])):  # type: ignore[call-overload]
                raise E.no_such_value("version", version)
            self.change("version", str(bug["version"]), version, "version", version)
        if "target_milestone" in p:
            ms = str(p["target_milestone"])
            if ms not in st.names("milestones", int(bug["product_id"])):  # type: ignore[call-overload]
                raise E.no_such_value("milestone", ms)
            self.change("target_milestone", str(bug["target_milestone"]), ms,
                        "target_milestone", ms)
        if "component" in p:
            comp = st.component(int(bug["product_id"]), str(p["component"]))  # type: ignore[call-overload]
            if comp is None:
                raise E.no_such_value("component", str(p["component"]))
            self.change("component", str(bug["component"]), comp["name"], "component_id",
                        comp["id"])

    def _apply_status(self, status: str, resolution: Any) -> None:
        wf, bug = self.state.workflow, self.bug
        old = str(bug["status"])
        if status not in wf.statuses:
            raise E.no_such_value("status", status)
        allowed = wf.can_change(old, status)
        if allowed and status != old and not self.privileged:
            # Without editbugs only the reporter or assignee may move a bug, and only
            # canconfirm may confirm it.
            involved = self.who.id in (bug["reporter"], bug["assigned_to"])
            confirming = old == wf.unconfirmed and wf.is_open(status)
            allowed = involved and (not confirming or self.who.in_group("canconfirm"))
        if not allowed:
            raise E.BugzillaError(400, 123, f"You are not allowed to change the bug status "
                                  f"from {old} to {status}.")
        if status == old:
            if resolution is not None:
                self._apply_resolution(status, str(resolution))
            return
        if not wf.is_open(status):
            if not resolution:
                raise E.BugzillaError(400, 121, "A valid resolution is required to mark bugs "
                                      f"as {status}.")
            self._apply_resolution(status, str(resolution))
        elif bug["resolution"]:
            self.change("resolution", str(bug["resolution"]), "", "resolution", "")
        if wf.is_open(status) and status != wf.unconfirmed and not bug["everconfirmed"]:
            self.change("is_confirmed", "0", "1", "everconfirmed", 1)
        self.change("status", old, status, "status", status)

    def _apply_resolution(self, status: str, resolution: str) -> None:
        wf = self.state.workflow
        if resolution and resolution not in wf.resolutions:
            raise E.no_such_value("Resolution", resolution)
        if wf.is_open(status) and resolution:
            raise E.BugzillaError(400, 122, "You cannot set a resolution for open bugs.")
        self.change("resolution", str(self.bug["resolution"]), resolution, "resolution",
                    resolution)

    def apply_keywords(self, spec: Any) -> list[str]:
        old = list(self.bug.keywords)
        if isinstance(spec, dict):
            new = list(old)
            if "set" in spec:
                new = _as_list(spec["set"])
            for kw in _as_list(spec.get("add")):
                if kw not in new:
                    new.append(kw)
            new = [k for k in new if k not in set(_as_list(spec.get("remove")))]
        else:
            new = _as_list(spec)
        known = set(self.state.keyword_names())
        for kw in new:
            if kw not in known:
                raise _unknown_keyword(kw)
        removed = sorted(set(old) - set(new))
        added = sorted(set(new) - set(old))
        self.change("keywords", ", ".join(removed), ", ".join(added))
        return sorted(set(new))

    def apply_cc(self, spec: Any, extra_add: list[User]) -> list[int]:
        cc = list(self.bug.cc)
        add = [self.state.check_user(x) for x in _as_list((spec or {}).get("add"))] + extra_add
        remove = [self.state.check_user(x) for x in _as_list((spec or {}).get("remove"))]
        added = [u for u in dict.fromkeys(add) if u.id not in cc]
        removed = [u for u in remove if u.id in cc]
        new = [c for c in cc if c not in {u.id for u in removed}] + [u.id for u in added]
        self.change("cc", ", ".join(u.login for u in removed),
                    ", ".join(u.login for u in added))
        return new

    def apply_flags(self, specs: list[dict[str, Any]]) -> tuple[list[User], list[tuple[str, Any]]]:
        """Validates flag changes; returns requestees to CC and the SQL to run."""
        st, who = self.state, self.who
        removed: list[str] = []
        added: list[str] = []
        to_cc: list[User] = []
        ops: list[tuple[str, Any]] = []
        current = list(self.bug.flags)
        for spec in specs:
            status = str(spec.get("status", ""))
            if status not in ("?", "+", "-", "X"):
                raise E.BugzillaError(400, 50, f"The flag status '{status}' is invalid.")
            requestee = (st.check_user(str(spec["requestee"])) if spec.get("requestee")
                         else None)
            if spec.get("id"):
                targets = [f for f in current if int(f["id"]) == int(spec["id"])]  # type: ignore[call-overload]
                if not targets:
                    raise E.BugzillaError(404, 51, f"There is no flag with the id "
                                          f"'{spec['id']}'.")
                ftype = st.flagtype_by_id(int(targets[0]["type_id"]))  # type: ignore[call-overload]
            elif spec.get("name") or spec.get("type_id"):
                ftype = (st.flagtype_by_name(str(spec["name"])) if spec.get("name")
                         else st.flagtype_by_id(int(spec["type_id"])))
                if ftype is None:
                    raise E.no_such_value("flagtype", str(spec.get("name", spec.get("type_id"))))
                same = [f for f in current if f["type_id"] == ftype["id"]]
                mine = [f for f in same if f["requestee"] == who.id]
                if status == "X":
                    targets = mine or same
                elif status == "?" and ftype["is_multiplicable"]:
                    targets = []
                else:
                    targets = (mine or same)[:1]
            else:
                raise E.missing_param("Bugzilla::Flag->set_flag", "id/type_id")
            assert ftype is not None
            name = str(ftype["name"])
            for flag in targets:
                old_req = st.user(int(flag["requestee"])) if flag["requestee"] else None  # type: ignore[call-overload]
                removed.append(_flag_text(name, str(flag["status"]), old_req))
                setter = st.user(int(flag["setter"]))  # type: ignore[call-overload]
                if flag["status"] == "?" and setter.id != who.id and status != "?":
                    action = {"X": "canceled", "+": "granted", "-": "denied"}[status]
                    self.flag_requests.append(FlagRequest(action, name, setter, old_req, setter))
                current.remove(flag)
                if status == "X":
                    ops.append(("DELETE FROM flags WHERE id=?", (flag["id"],)))
                else:
                    ops.append(("UPDATE flags SET status=?, setter=?, requestee=?, "
                                "modification_ts=? WHERE id=?",
                                (status, who.id, requestee.id if requestee else None, self.now,
                                 flag["id"])))
                    added.append(_flag_text(name, status, requestee))
            if not targets and status != "X":
                ops.append(("INSERT INTO flags (bug_id, type_id, status, setter, requestee, "
                            "creation_ts, modification_ts) VALUES (?,?,?,?,?,?,?)",
                            (self.bug.id, ftype["id"], status, who.id,
                             requestee.id if requestee else None, self.now, self.now)))
                added.append(_flag_text(name, status, requestee))
            if status == "?" and requestee is not None:
                if requestee.id not in self.bug.cc:
                    to_cc.append(requestee)
                if requestee.id != who.id:
                    self.flag_requests.append(FlagRequest("requested", name, who, requestee,
                                                          requestee))
        self.change("flagtypes.name", ", ".join(removed), ", ".join(added))
        return to_cc, ops


def update_bugs(state: State, who: User | None, ids: list[Any],
                p: dict[str, Any]) -> tuple[list[dict[str, Any]], list[BugEvent]]:
    """Bug.update for every id; returns the REST ``bugs`` entries and the mail events."""
    if who is None:
        raise E.login_required()
    results: list[dict[str, Any]] = []
    events: list[BugEvent] = []
    with transaction(state):
        now = state.clock.now()
        for raw in ids:
            bug = resolve_bug(state, who, raw)
            upd = _BugUpdate(state, who, bug, now)
            upd.apply_scalars(p)
            keywords = upd.apply_keywords(p["keywords"]) if "keywords" in p else None
            to_cc, flag_ops = upd.apply_flags(list(p.get("flags") or []))
            cc = upd.apply_cc(p.get("cc"), to_cc) if ("cc" in p or to_cc) else None
            comment_spec = p.get("comment")
            comment = None
            if isinstance(comment_spec, dict):
                text = str(comment_spec.get("body", comment_spec.get("comment", "")))
                if text.strip():
                    comment = add_comment_row(state, bug.id, who, text,
                                              bool(comment_spec.get("is_private")), now)
            for sql, args in flag_ops:
                state.db.execute(sql, args)
            if upd.columns:
                cols = ", ".join(f"{c}=?" for c in upd.columns)
                state.db.execute(f"UPDATE bugs SET {cols} WHERE id=?",
                                 [*upd.columns.values(), bug.id])
            if keywords is not None:
                state.db.execute("DELETE FROM bug_keywords WHERE bug_id=?", (bug.id,))
                state.db.executemany("INSERT INTO bug_keywords VALUES (?,?)",
                                     [(bug.id, k) for k in keywords])
            if cc is not None:
                state.db.execute("DELETE FROM bug_cc WHERE bug_id=?", (bug.id,))
                state.db.executemany("INSERT INTO bug_cc VALUES (?,?)",
                                     [(bug.id, u) for u in cc])
            changes = [upd.changes[f] for f in CHANGE_ORDER if f in upd.changes]
            state.db.executemany(
                "INSERT INTO activity (bug_id, who, ts, field, removed, added) "
                "VALUES (?,?,?,?,?,?)",
                [(bug.id, who.id, now, c.field, c.removed, c.added) for c in changes])
            delta = int(bug["delta_ts"])  # type: ignore[call-overload]
            if changes or comment:
                delta = now
                state.db.execute("UPDATE bugs SET delta_ts=? WHERE id=?", (now, bug.id))
            results.append({
                "id": bug.id, "alias": [], "last_change_time": _ts(delta),
                "changes": {c.field: {"added": c.added, "removed": c.removed} for c in changes},
            })
            prev = int(bug["assigned_to"]) if "assigned_to" in upd.changes else None  # type: ignore[call-overload]
            events.append(BugEvent("changed", bug.id, who, now, changes, comment, prev,
                                   upd.flag_requests))
    return results, events


def _ts(epoch: int) -> str:
    from .state import format_ts

    return format_ts(epoch)


def add_comment_row(state: State, bug_id: int, who: User, text: str, is_private: bool,
                    now: int, attachment_id: int | None = None,
                    attachment_summary: str = "") -> NewComment:
    text = text.rstrip()
    count = state.db.execute("SELECT count(*) FROM comments WHERE bug_id=?",
                             (bug_id,)).fetchone()[0]
    cur = state.db.execute(
        "INSERT INTO comments (bug_id, who, ts, text, is_private, attachment_id) "
        "VALUES (?,?,?,?,?,?)", (bug_id, who.id, now, text, int(is_private), attachment_id))
    return NewComment(int(cur.lastrowid or 0), int(count), text, is_private, attachment_id,
                      attachment_summary)


def add_comment(state: State, who: User | None, bug_ref: Any,
                p: dict[str, Any]) -> tuple[int, BugEvent]:
    if who is None:
        raise E.login_required()
    with transaction(state):
        bug = resolve_bug(state, who, bug_ref)
        text = str(p.get("comment", p.get("body", "")) or "")
        if not text.strip():
            raise E.missing_param("", "comment")
        now = state.clock.now()
        comment = add_comment_row(state, bug.id, who, text, bool(p.get("is_private")), now)
        state.db.execute("UPDATE bugs SET delta_ts=? WHERE id=?", (now, bug.id))
    return comment.id, BugEvent("changed", bug.id, who, now, comment=comment)


def add_attachment(state: State, who: User | None, ids: list[Any],
                   p: dict[str, Any]) -> tuple[list[int], list[BugEvent]]:
    if who is None:
        raise E.login_required()
    for key in ("data", "file_name", "summary", "content_type"):
        if not p.get(key):
            raise E.missing_param("Bug.add_attachment", key)
    try:
        data = base64.b64decode(str(p["data"]), validate=True)
    except ValueError as exc:
        raise E.BugzillaError(400, 600, "The attachment data is not valid base64.") from exc
    out: list[int] = []
    events: list[BugEvent] = []
    with transaction(state):
        now = state.clock.now()
        for raw in ids:
            bug = resolve_bug(state, who, raw)
            cur = state.db.execute(
                "INSERT INTO attachments (bug_id, creator, ts, file_name, summary, content_type,"
                " data, is_patch, is_private) VALUES (?,?,?,?,?,?,?,?,?)",
                (bug.id, who.id, now, str(p["file_name"]), str(p["summary"]),
                 str(p["content_type"]), data, int(bool(p.get("is_patch"))),
                 int(bool(p.get("is_private")))))
            attach_id = int(cur.lastrowid or 0)
            text = f"Created attachment {attach_id}\n{p['summary']}"
            if p.get("comment"):
                text += f"\n\n{p['comment']}"
            comment = add_comment_row(state, bug.id, who, text, bool(p.get("is_private")), now,
                                      attach_id, str(p["summary"]))
            state.db.execute("UPDATE bugs SET delta_ts=? WHERE id=?", (now, bug.id))
            out.append(attach_id)
            events.append(BugEvent("changed", bug.id, who, now,
                                   [FieldChange("attachments.created", "", str(attach_id))],
                                   comment))
    return out, events
