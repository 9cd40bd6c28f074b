"""Bug.search: the REST parameters, quicksearch and advanced (f1/o1/v1, fieldN-N-N) criteria.

Simple parameters become SQL; text-ish criteria over joined data (flags, keywords, CC,
comments) are evaluated in Python on the candidate rows, which stays fast for thousands of bugs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from . import errors as E
from .bugview import BugRecord, can_see, load_bugs
from .state import State, User

DEFAULT_LIMIT = 500
_RELATIVE = re.compile(r"^-?(\d+)([hdwmy])$")
# REST/simple name -> SQL column on "bugs b" joined with products p and components c.
SIMPLE = {
    "product": "p.name", "component": "c.name", "status": "b.status", "bug_status": "b.status",
    "resolution": "b.resolution", "version": "b.version", "severity": "b.severity",
    "bug_severity": "b.severity", "priority": "b.priority", "platform": "b.platform",
    "rep_platform": "b.platform", "op_sys": "b.op_sys", "target_milestone": "b.target_milestone",
    "classification": "p.classification",
}
# Matched as substrings (any of several values), as Bug.search documents.
SUBSTRING = {"summary": "b.summary", "short_desc": "b.summary", "whiteboard": "b.whiteboard",
             "url": "b.url"}
_ROW_KEYS = {"summary": "summary", "short_desc": "summary"}
USER_FIELDS = {"creator": "reporter", "reporter": "reporter", "assigned_to": "assigned_to",
               "qa_contact": "qa_contact"}
ORDER = {"bug_id": "b.id", "id": "b.id", "changeddate": "b.delta_ts",
         "last_change_time": "b.delta_ts", "delta_ts": "b.delta_ts", "opendate": "b.creation_ts",
         "creation_time": "b.creation_ts", "priority": "b.priority",
         "bug_severity": "b.severity", "bug_status": "b.status", "product": "p.name",
         "component": "c.name", "short_desc": "b.summary", "assigned_to": "b.assigned_to"}


def parse_date(text: str, now: int) -> int:
    """Bugzilla's accepted date forms: ISO 8601, ``YYYY-MM-DD[ HH:MM[:SS]]``, ``-1d``, ``Now``."""
    value = text.strip()
    if value.lower() == "now":
        return now
    rel = _RELATIVE.match(value)
    if rel:
        n, unit = int(rel.group(1)), rel.group(2)
        days = {"h": n / 24, "d": n, "w": 7 * n, "m": 30 * n, "y": 365 * n}[unit]
        return int(now - timedelta(days=days).total_seconds())
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y%m%dT%H:%M:%S"):
        try:
            return int(datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp())
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise E.illegal_date(text) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def _values(q: dict[str, list[str]], key: str) -> list[str]:
    out: list[str] = []
    for v in q.get(key, []):
        if key in ("id", "bug_id"):
            out.extend(x.strip() for x in str(v).split(",") if x.strip())
        else:
            out.append(str(v))
    return out


def _text_of(state: State, bug: BugRecord, field: str) -> list[str]:
    """The searchable strings of one bug field (a list: multi-valued fields match any)."""
    if field in USER_FIELDS or field in ("assigned_to_realname", "reporter_realname"):
        uid = bug[USER_FIELDS.get(field, field.split("_realname")[0])]
        return [state.user(int(uid)).login] if uid is not None else [""]  # type: ignore[call-overload]
    if field in ("status_whiteboard", "whiteboard"):
        return [str(bug["whiteboard"])]
    if field == "keywords":
        return list(bug.keywords) or [""]
    if field == "cc":
        return [state.user(u).login for u in bug.cc] or [""]
    if field == "flagtypes.name":
        return [f"{f['name']}{f['status']}" for f in bug.flags] or [""]
    if field in ("requestees.login_name", "setters.login_name"):
        col = "requestee" if field.startswith("requestees") else "setter"
        return [state.user(int(f[col])).login for f in bug.flags if f[col]] or [""]  # type: ignore[call-overload]
    if field in ("longdesc", "comment"):
        return [r[0] for r in state.db.execute("SELECT text FROM comments WHERE bug_id=?",
                                               (bug.id,))]
    if field in ("bug_id", "id"):
        return [str(bug.id)]
    if field in ("delta_ts", "last_change_time", "creation_ts", "creation_time"):
        col = "delta_ts" if field in ("delta_ts", "last_change_time") else "creation_ts"
        return [str(bug[col])]
    if field == "everconfirmed":
        return [str(bug["everconfirmed"])]
    if field in _ROW_KEYS:
        return [str(bug[_ROW_KEYS[field]])]
    if field in ("bug_file_loc", "url"):
        return [str(bug["url"])]
    column = SIMPLE.get(field)
    if column is None:
        raise E.BugzillaError(400, 52, f"Can't use {field} as a field name.")
    key = column.split(".")[1]
    if key == "name":
        key = "product" if column.startswith("p.") else "component"
    return [str(bug.row.get(key, ""))]


def _matcher(op: str, value: str, now: int) -> Callable[[str], bool]:
    low = value.lower()
    words = low.split()
    exact = [v.strip() for v in value.split(",")]
    table: dict[str, Callable[[str], bool]] = {
        "equals": lambda s: s == value,
        "notequals": lambda s: s != value,
        "substring": lambda s: low in s.lower(),
        "casesubstring": lambda s: value in s,
        "notsubstring": lambda s: low not in s.lower(),
        "anyexact": lambda s: s in exact,
        "nowordssubstr": lambda s: not any(w in s.lower() for w in words),
        "anywordssubstr": lambda s: any(w in s.lower() for w in words),
        "allwordssubstr": lambda s: all(w in s.lower() for w in words),
        "anywords": lambda s: bool(set(words) & set(s.lower().split())),
        "allwords": lambda s: set(words) <= set(s.lower().split()),
        "nowords": lambda s: not set(words) & set(s.lower().split()),
        "regexp": lambda s: re.search(value, s, re.I) is not None,
        "notregexp": lambda s: re.search(value, s, re.I) is None,
        "isempty": lambda s: s == "",
        "isnotempty": lambda s: s != "",
    }
    if op in table:
        return table[op]
    if op in ("lessthan", "lessthaneq", "greaterthan", "greaterthaneq"):
        def compare(s: str) -> bool:
            try:
                a, b = float(s), float(value)
            except ValueError:
                a, b = float(s or 0), float(parse_date(value, now))
            return {"lessthan": a < b, "lessthaneq": a <= b, "greaterthan": a > b,
                    "greaterthaneq": a >= b}[op]
        return compare
    raise E.BugzillaError(400, 52, f"Can't use '{op}' as a search operator.")


# Multi-valued fields where a negative operator must hold for every value.
_NEGATIVE = {"notequals", "notsubstring", "nowords", "nowordssubstr", "notregexp", "isempty"}


def _advanced(q: dict[str, list[str]]) -> list[tuple[str, str, str, bool]]:
    out = []
    for key in q:
        m = re.fullmatch(r"f(\d+)", key)
        if m:
            n = m.group(1)
            out.append((q[key][0], q.get(f"o{n}", ["equals"])[0], q.get(f"v{n}", [""])[0],
                        q.get(f"n{n}", ["0"])[0] == "1"))
        m = re.fullmatch(r"field(\d+-\d+-\d+)", key)
        if m:
            n = m.group(1)
            out.append((q[key][0], q.get(f"type{n}", ["equals"])[0],
                        q.get(f"value{n}", [""])[0], False))
    return out


def _quicksearch(state: State, text: str) -> list[Callable[[BugRecord], bool]]:
    """Quicksearch words: a number is a bug id, ``field:value`` a field substring, a status
    name (or ALL/OPEN) a status filter, anything else a summary/whiteboard/keyword/product/
    component match. Without a status word only open bugs match, as in Bugzilla."""
    wf = state.workflow
    preds: list[Callable[[BugRecord], bool]] = []
    status_given = False

    def id_is(n: int) -> Callable[[BugRecord], bool]:
        return lambda b: b.id == n

    def status_is(s: str) -> Callable[[BugRecord], bool]:
        return lambda b: b["status"] == s

    def field_has(f: str, v: str) -> Callable[[BugRecord], bool]:
        return lambda b: any(v in s.lower() for s in _text_of(state, b, f))

    def word_in(w: str) -> Callable[[BugRecord], bool]:
        return lambda b: (w in str(b["summary"]).lower() or w in str(b["whiteboard"]).lower()
                          or any(w == k.lower() for k in b.keywords)
                          or w in (str(b["product"]).lower(), str(b["component"]).lower()))

    def is_open(b: BugRecord) -> bool:
        return wf.is_open(str(b["status"]))

    for word in text.split():
        upper = word.upper()
        if word.isdigit():
            preds.append(id_is(int(word)))
        elif upper in ("ALL", "OPEN") or upper in wf.statuses:
            status_given = True
            if upper == "OPEN":
                preds.append(is_open)
            elif upper != "ALL":
                preds.append(status_is(upper))
        elif ":" in word:
            field, value = word.split(":", 1)
            field = {"prod": "product", "comp": "component", "kw": "keywords",
                     "sw": "status_whiteboard", "whiteboard": "status_whiteboard",
                     "assignee": "assigned_to"}.get(field, field)
            preds.append(field_has(field, value.lower()))
        else:
            preds.append(word_in(word.lower()))
    if not status_given:
        preds.append(is_open)
    return preds


def search(state: State, viewer: User | None, q: dict[str, list[str]]) -> list[BugRecord]:
    """The visible bugs matching ``q`` (a parsed query string), ordered and paged."""
    now = state.clock.now()
    where: list[str] = []
    args: list[Any] = []
    for key, column in SIMPLE.items():
        vals = _values(q, key)
        if vals:
            where.append(f"{column} IN ({','.join('?' * len(vals))})")
            args.extend(vals)
    ids = _values(q, "id") + _values(q, "bug_id")
    if ids:
        if not all(i.strip().isdigit() for i in ids):
            raise E.invalid_bug_id(next(i for i in ids if not i.strip().isdigit()))
        where.append(f"b.id IN ({','.join('?' * len(ids))})")
        args.extend(int(i) for i in ids)
    for key, column in (("last_change_time", "b.delta_ts"), ("creation_time", "b.creation_ts")):
        for v in _values(q, key):
            where.append(f"{column} >= ?")
            args.append(parse_date(v, now))
    if q.get("chfieldfrom") or q.get("chfieldto"):
        start = parse_date(q.get("chfieldfrom", ["1970-01-01"])[0] or "1970-01-01", now)
        end = parse_date(q.get("chfieldto", ["Now"])[0] or "Now", now)
        where.append("b.delta_ts BETWEEN ? AND ?")
        args.extend([start, end])
    for key, col in USER_FIELDS.items():
        for v in _values(q, key):
            user = state.find_user(v)
            where.append(f"b.{col} = ?")
            args.append(user.id if user else -1)
    for key, column in SUBSTRING.items():
        vals = _values(q, key)
        if vals:
            where.append("(" + " OR ".join([f"{column} LIKE ? ESCAPE '\\'"] * len(vals)) + ")")
            args.extend(f"%{_like(v)}%" for v in vals)
    for login in _values(q, "cc"):
        user = state.find_user(login)
        where.append("b.id IN (SELECT bug_id FROM bug_cc WHERE user_id = ?)")
        args.append(user.id if user else -1)
    order = _order(q.get("order", ["bug_id"])[0])
    sql = ("SELECT b.id FROM bugs b JOIN products p ON p.id=b.product_id "
           "JOIN components c ON c.id=b.component_id")
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order}"
    candidate_ids = [r[0] for r in state.db.execute(sql, args)]
    preds = _python_predicates(state, q, now)
    offset = int(q.get("offset", ["0"])[0] or 0)
    limit = int(q.get("limit", [str(DEFAULT_LIMIT)])[0] or 0)
    need = offset + limit if limit > 0 else None
    # Load candidates in chunks and stop once the page is full: a 500-bug page out of
    # thousands of matches then costs one chunk, not the whole table.
    chunk = max(need or 0, 1000)
    matched: list[BugRecord] = []
    for start in range(0, len(candidate_ids), chunk):
        chunk_ids = candidate_ids[start:start + chunk]
        records = load_bugs(state, chunk_ids)
        matched.extend(records[i] for i in chunk_ids
                       if can_see(viewer, records[i]) and all(p(records[i]) for p in preds))
        if need is not None and len(matched) >= need:
            break
    return matched[offset:need]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _order(text: str) -> str:
    parts = []
    for item in text.split(","):
        bits = item.strip().split()
        if not bits:
            continue
        column = ORDER.get(bits[0], "b.id")
        direction = "DESC" if len(bits) > 1 and bits[1].upper() == "DESC" else "ASC"
        parts.append(f"{column} {direction}")
    return ", ".join([*parts, "b.id ASC"])


def _python_predicates(state: State, q: dict[str, list[str]],
                       now: int) -> list[Callable[[BugRecord], bool]]:
    preds: list[Callable[[BugRecord], bool]] = []
    kws = _values(q, "keywords")
    if kws:
        kind = q.get("keywords_type", ["allwords"])[0]
        wanted = {w for v in kws for w in re.split(r"[\s,]+", v) if w}
        if kind in ("anywords", "anyexact"):
            preds.append(lambda b: bool(wanted & set(b.keywords)))
        elif kind == "nowords":
            preds.append(lambda b: not wanted & set(b.keywords))
        else:
            preds.append(lambda b: wanted <= set(b.keywords))
    for field, op, value, negate in _advanced(q):
        match = _matcher(op, value, now)
        every = op in _NEGATIVE

        def pred(b: BugRecord, f: str = field, m: Callable[[str], bool] = match,
                 e: bool = every, n: bool = negate) -> bool:
            texts = _text_of(state, b, f)
            hit = all(m(t) for t in texts) if e else any(m(t) for t in texts)
            return hit != n
        preds.append(pred)
    for key in q:
        m = re.fullmatch(r"email(\d+)", key)
        if not m:
            continue
        n = m.group(1)
        roles = [r for r in ("assigned_to", "reporter", "qa_contact", "cc")
                 if q.get(f"email{r}{n}", ["0"])[0] not in ("0", "", "False", "false")]
        op = {"exact": "equals"}.get(q.get(f"emailtype{n}", ["substring"])[0],
                                     q.get(f"emailtype{n}", ["substring"])[0])
        match = _matcher(op, q[key][0], now)

        def email_pred(b: BugRecord, rs: list[str] = roles,
                       m: Callable[[str], bool] = match) -> bool:
            return any(m(t) for r in rs for t in _text_of(state, b, r))
        preds.append(email_pred)
    if q.get("longdesc"):
        op = q.get("longdesc_type", ["allwordssubstr"])[0]
        match = _matcher(op, q["longdesc"][0], now)
        preds.append(lambda b: any(match(t) for t in _text_of(state, b, "longdesc")))
    if q.get("quicksearch"):
        preds.extend(_quicksearch(state, q["quicksearch"][0]))
    return preds
