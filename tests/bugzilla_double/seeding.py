"""Fast bulk insertion of bugs for tests and benchmarks (thousands per second, no mails)."""

from __future__ import annotations

from typing import Any

from .bugwrite import transaction
from .search import parse_date
from .state import State

_DEFAULTS = {"product": "Xen", "component": "Hypervisor", "version": "unstable",
             "platform": "All", "op_sys": "All", "severity": "normal", "priority": "---",
             "whiteboard": "", "url": "", "resolution": ""}


def _ts(value: Any, now: int) -> int:
    if value is None:
        return now
    if isinstance(value, int | float):
        return int(value)
    if hasattr(value, "timestamp"):
        return int(value.timestamp())
    return parse_date(str(value), now)


def bulk_insert_bugs(state: State, bugs: list[dict[str, Any]]) -> list[int]:
    """Inserts ``bugs`` (REST-like dicts) in one transaction; returns the new ids.

    Keys: summary (required), id (optional, else the next free ids), product, component,
    version, status, resolution, creator, assigned_to, qa_contact, cc, keywords, whiteboard,
    severity, priority, platform, op_sys, url, creation_time, last_change_time, description,
    comments (strings or dicts with text/creator/time/is_private), flags (dicts with
    name/status/requestee/setter), private.
    """
    now = state.clock.now()
    admin = state.user(1)
    products: dict[str, Any] = {}
    comps: dict[tuple[int, str], Any] = {}
    ids: list[int] = []
    with transaction(state):
        next_id = (state.db.execute("SELECT max(id) FROM bugs").fetchone()[0] or 0) + 1
        rows, cc_rows, kw_rows, comment_rows, flag_rows = [], [], [], [], []
        for i, spec in enumerate(bugs):
            b = {**_DEFAULTS, **spec}
            bug_id = int(spec.get("id") or next_id + i)
            pname = str(b["product"])
            if pname not in products:
                products[pname] = state.product_by_name(pname)
                if products[pname] is None:
                    raise ValueError(f"seed_bugs: unknown product {pname!r}")
            prod = products[pname]
            key = (prod["id"], str(b["component"]))
            if key not in comps:
                comps[key] = state.component(*key)
                if comps[key] is None:
                    raise ValueError(f"seed_bugs: unknown component {key[1]!r}")
            comp = comps[key]
            status = str(b.get("status") or state.workflow.confirmed_default)
            if status not in state.workflow.statuses:
                raise ValueError(f"seed_bugs: status {status!r} not in the workflow")
            reporter = state.check_user(str(b.get("creator") or admin.login))
            assignee = (state.check_user(str(b["assigned_to"])) if b.get("assigned_to")
                        else state.user(comp["default_assignee"]))
            qa = state.check_user(str(b["qa_contact"])) if b.get("qa_contact") else None
            created = _ts(b.get("creation_time"), now)
            changed = _ts(b.get("last_change_time"), created)
            rows.append((bug_id, prod["id"], comp["id"], str(b["version"]), str(b["summary"]),
                         status, str(b["resolution"]), int(status != state.workflow.unconfirmed),
                         str(b["platform"]), str(b["op_sys"]), str(b["severity"]),
                         str(b["priority"]), prod["default_milestone"], assignee.id,
                         qa.id if qa else None, reporter.id, str(b["whiteboard"]), str(b["url"]),
                         created, changed, changed, "private" if b.get("private") else None))
            for login in b.get("cc") or []:
                cc_rows.append((bug_id, state.check_user(login).id))
            for kw in b.get("keywords") or []:
                kw_rows.append((bug_id, kw))
            texts: list[Any] = [b.get("description", ""), *(b.get("comments") or [])]
            for c in texts:
                c = c if isinstance(c, dict) else {"text": str(c)}
                who = state.check_user(str(c["creator"])).id if c.get("creator") else reporter.id
                comment_rows.append((bug_id, who, _ts(c.get("time"), created), str(c["text"]),
                                     int(bool(c.get("is_private")))))
            for f in b.get("flags") or []:
                ftype = state.flagtype_by_name(str(f.get("name", "needinfo")))
                if ftype is None:
                    raise ValueError(f"seed_bugs: unknown flag type {f.get('name')!r}")
                setter = state.check_user(str(f.get("setter") or admin.login)).id
                requestee = state.check_user(str(f["requestee"])).id if f.get("requestee") \
                    else None
                flag_rows.append((bug_id, ftype["id"], str(f.get("status", "?")), setter,
                                  requestee, changed, changed))
            ids.append(bug_id)
        db = state.db
        db.executemany(
            "INSERT INTO bugs (id, product_id, component_id, version, summary, status, "
            "resolution, everconfirmed, platform, op_sys, severity, priority, target_milestone, "
            "assigned_to, qa_contact, reporter, whiteboard, url, creation_ts, delta_ts, "
            "lastdiffed, private_group) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows)
        db.executemany("INSERT OR IGNORE INTO bug_cc VALUES (?,?)", cc_rows)
        db.executemany("INSERT OR IGNORE INTO bug_keywords VALUES (?,?)", kw_rows)
        db.executemany("INSERT INTO comments (bug_id, who, ts, text, is_private) "
                       "VALUES (?,?,?,?,?)", comment_rows)
        db.executemany("INSERT INTO flags (bug_id, type_id, status, setter, requestee, "
                       "creation_ts, modification_ts) VALUES (?,?,?,?,?,?,?)", flag_rows)
    return ids
