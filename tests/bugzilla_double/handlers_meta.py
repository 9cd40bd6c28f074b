"""REST resources other than bugs: version, users, login, products, components, fields, flags."""

from __future__ import annotations

import re
from typing import Any

from . import errors as E
from .context import Request
from .state import OP_SYSES, PLATFORMS, PRIORITIES, SEVERITIES, User

EMAIL_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")


def version(req: Request) -> Any:
    return {"version": "5.2+"}


def extensions(req: Request) -> Any:
    return {"extensions": {}}


def login(req: Request) -> Any:
    user, token = req.state.login(req.param("login", ""), req.param("password", ""))
    return {"id": user.id, "token": token}


def logout(req: Request) -> Any:
    return {}


def valid_login(req: Request) -> Any:
    login_name = req.param("login", "")
    return {"result": bool(req.viewer and req.viewer.login.lower() == login_name.lower())}


def user_json(req: Request, user: User) -> dict[str, Any]:
    viewer = req.viewer
    out: dict[str, Any] = {"id": user.id, "name": user.login, "real_name": user.real_name}
    if viewer is None:
        return out
    out["email"] = user.login
    if viewer.id == user.id or viewer.in_group("editusers"):
        out.update({"can_login": user.can_login, "email_enabled": user.email_enabled,
                    "login_denied_text": "",
                    "groups": [_group_json(req, g) for g in sorted(user.groups)]})
    if viewer.id == user.id:
        out.update({"saved_searches": [], "saved_reports": []})
    return out


def _group_json(req: Request, name: str) -> dict[str, Any]:
    row = req.state.db.execute("SELECT id, name, description FROM groups WHERE name=?",
                               (name,)).fetchone()
    return {"id": row[0], "name": row[1], "description": row[2]}


def get_users(req: Request, ref: str | None = None) -> Any:
    st = req.state
    users: list[User] = []
    names = req.params("names") + ([ref] if ref and not ref.isdigit() else [])
    ids = req.params("ids") + ([ref] if ref and ref.isdigit() else [])
    for name in names:
        users.append(st.check_user(name))
    for uid in ids:
        try:
            users.append(st.user(int(uid)))
        except (KeyError, ValueError) as exc:
            raise E.BugzillaError(400, 33, f"The user id '{uid}' is not valid.") from exc
    for pattern in req.params("match"):
        if req.viewer is None:
            raise E.login_required()
        low = pattern.lower()
        users.extend(u for u in st.all_users()
                     if low in u.login.lower() or low in u.real_name.lower())
    if not (names or ids or req.params("match")):
        raise E.BugzillaError(400, 50, "You must include at least one of 'ids', 'names' or "
                              "'match' in your call to User.get.")
    unique = list({u.id: u for u in users}.values())
    return {"users": [user_json(req, u) for u in unique]}


def create_user(req: Request) -> Any:
    viewer = req.require_login()
    if not viewer.in_group("editusers"):
        raise E.BugzillaError(401, 304, "Sorry, you aren't a member of the 'editusers' group, "
                              "and so you are not authorized to add new users.")
    email = str(req.body.get("email", ""))
    if not EMAIL_RE.match(email):
        raise E.BugzillaError(
            400, 501, f"The e-mail address you entered ({email}) didn't pass our syntax checking"
            " for a legal email address. A legal address must contain exactly one '@', and at "
            "least one '.' after the @. It also must not contain any illegal characters.")
    with req.state.lock:
        if req.state.find_user(email):
            raise E.BugzillaError(400, 500, f"There is already an account with the login name "
                                  f"{email}.")
        # Bugzilla reads the real name from full_name only: python-bugzilla's "name" is ignored.
        user = req.state.add_user(email, str(req.body.get("full_name", "")),
                                  req.body.get("password"))
    return 201, {"id": user.id}


def update_user(req: Request, ref: str) -> Any:
    viewer = req.require_login()
    if not viewer.in_group("editusers"):
        raise E.BugzillaError(401, 115, "You are not allowed to edit users.")
    st = req.state
    with st.lock:
        user = st.user(int(ref)) if ref.isdigit() else st.check_user(ref)
        spec = req.body.get("groups") or {}
        add = [g for g in spec.get("add", []) if g not in user.groups]
        remove = [g for g in spec.get("remove", []) if g in user.groups]
        st.set_groups(user.id, add=add, remove=remove)
        changes: dict[str, Any] = {}
        if add or remove:
            changes["groups"] = {"added": ",".join(add), "removed": ",".join(remove)}
        if "full_name" in req.body or "real_name" in req.body:
            name = str(req.body.get("full_name", req.body.get("real_name")))
            if name != user.real_name:
                st.db.execute("UPDATE users SET real_name=? WHERE id=?", (name, user.id))
                changes["real_name"] = {"added": name, "removed": user.real_name}
                st._load_users()
    return {"users": [{"id": user.id, "changes": changes}]}


def _flagtype_full(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "description": row["description"],
            "cc_list": "", "sort_key": 1, "is_active": True, "is_requestable": True,
            "is_requesteeble": bool(row["is_requesteeble"]),
            "is_multiplicable": bool(row["is_multiplicable"]),
            "grant_group": None, "request_group": None}


def product_json(req: Request, prod: Any) -> dict[str, Any]:
    st = req.state
    flagtypes = [_flagtype_full(r) for r in st.db.execute("SELECT * FROM flagtypes ORDER BY id")]
    comps = [{
        "id": c["id"], "name": c["name"], "description": c["description"],
        "default_assigned_to": st.user(c["default_assignee"]).login, "default_qa_contact": "",
        "sort_key": 0, "is_active": bool(c["is_active"]),
        "flag_types": {"bug": flagtypes, "attachment": []},
    } for c in st.db.execute("SELECT * FROM components WHERE product_id=? ORDER BY id",
                             (prod["id"],))]
    def named(table: str) -> list[dict[str, Any]]:
        rows = st.db.execute(f"SELECT id, name FROM {table} WHERE product_id=? ORDER BY name",
                             (prod["id"],))
        return [{"id": r[0], "name": r[1], "sort_key": 0, "is_active": True} for r in rows]
    return {"id": prod["id"], "name": prod["name"], "description": prod["description"],
            "is_active": bool(prod["is_active"]), "default_milestone": prod["default_milestone"],
            "classification": prod["classification"],
            "has_unconfirmed": bool(prod["has_unconfirmed"]), "components": comps,
            "versions": named("versions"), "milestones": named("milestones")}


def get_products(req: Request, ref: str | None = None) -> Any:
    st = req.state
    rows = []
    for name in req.params("names") + ([ref] if ref and not ref.isdigit() else []):
        row = st.product_by_name(name)
        if row is not None:
            rows.append(row)
    for pid in req.params("ids") + ([ref] if ref and ref.isdigit() else []):
        row = st.product_by_id(int(pid))
        if row is not None:
            rows.append(row)
    if not rows and req.params("type"):
        rows = list(st.db.execute("SELECT * FROM products ORDER BY id"))
    return {"products": [product_json(req, r) for r in rows]}


def product_ids(req: Request) -> Any:
    return {"ids": [r[0] for r in req.state.db.execute("SELECT id FROM products ORDER BY id")]}


def create_product(req: Request) -> Any:
    viewer = req.require_login()
    if not viewer.in_group("editcomponents"):
        raise E.BugzillaError(401, 115, "You are not allowed to create products.")
    b = req.body
    with req.state.lock:
        if req.state.product_by_name(str(b.get("name", ""))):
            raise E.BugzillaError(400, 702, f"Product name '{b.get('name')}' already exists.")
        pid = req.state.add_product(str(b["name"]), str(b.get("description", "")), {},
                                    [str(b.get("version", "unspecified"))])
    return 201, {"id": pid}


def create_component(req: Request) -> Any:
    viewer = req.require_login()
    if not viewer.in_group("editcomponents"):
        raise E.BugzillaError(401, 115, "You are not allowed to create components.")
    b = req.body
    with req.state.lock:
        prod = req.state.product_by_name(str(b.get("product", "")))
        if prod is None:
            raise E.BugzillaError(401, 106, f"Sorry, either the product {b.get('product')} does "
                                  "not exist or you aren't authorized to enter a bug into it.")
        if req.state.component(prod["id"], str(b.get("name", ""))):
            raise E.BugzillaError(400, 1200, f"The {prod['name']} product already has a "
                                  f"component named {b.get('name')}.")
        cid = req.state.add_component(prod["id"], str(b["name"]), str(b.get("description", "")),
                                      str(b.get("default_assignee", viewer.login)))
    return 201, {"id": cid}


def _select_values(names: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    return [{"name": n, "sort_key": (i + 1) * 100, "sortkey": (i + 1) * 100,
             "visibility_values": [], "is_active": True} for i, n in enumerate(names)]


FIELD_IDS = {"bug_status": 9, "version": 5, "rep_platform": 6, "op_sys": 8, "keywords": 11,
             "resolution": 12, "bug_severity": 13, "priority": 14, "component": 15,
             "target_milestone": 20, "product": 4}
FIELD_ALIASES = {"status": "bug_status", "platform": "rep_platform", "severity": "bug_severity"}
DISPLAY = {"bug_status": "Status", "version": "Version", "rep_platform": "Hardware",
           "op_sys": "OS", "keywords": "Keywords", "resolution": "Resolution",
           "bug_severity": "Severity", "priority": "Priority", "component": "Component",
           "target_milestone": "Target Milestone", "product": "Product"}


def _field_values(req: Request, name: str) -> list[dict[str, Any]]:
    st = req.state
    wf = st.workflow
    if name == "bug_status":
        def changes(frm: str | None) -> list[dict[str, Any]]:
            targets = wf.initial if frm is None else wf.transitions.get(frm, ())
            return [{"name": t, "comment_required": False} for t in targets]
        values: list[dict[str, Any]] = [{"name": None, "sort_key": 0, "sortkey": 0,
                                         "visibility_values": [], "is_open": True,
                                         "can_change_to": changes(None)}]
        for s in wf.statuses:
            values.append({"name": s, "sort_key": wf.sort_key(s), "sortkey": wf.sort_key(s),
                           "visibility_values": [], "is_open": wf.is_open(s),
                           "can_change_to": changes(s)})
        return values
    if name == "keywords":
        return [{"name": r[0], "description": r[1]} for r in
                st.db.execute("SELECT name, description FROM keywords ORDER BY name")]
    if name in ("component", "version", "target_milestone"):
        table = {"component": "components", "version": "versions",
                 "target_milestone": "milestones"}[name]
        rows = st.db.execute(f"SELECT t.name, p.name FROM {table} t JOIN products p "
                             "ON p.id=t.product_id ORDER BY p.id, t.id")
        return [{"name": r[0], "visibility_values": [r[1]], "sort_key": 0, "sortkey": 0,
                 "is_active": True} for r in rows]
    if name == "product":
        return _select_values([r[0] for r in st.db.execute("SELECT name FROM products")])
    if name == "resolution":
        return _select_values(("", *wf.resolutions))
    return _select_values({"rep_platform": PLATFORMS, "op_sys": OP_SYSES,
                           "bug_severity": SEVERITIES, "priority": PRIORITIES}[name])


def get_fields(req: Request, ref: str | None = None) -> Any:
    names = [ref] if ref else req.params("names") or list(FIELD_IDS)
    out = []
    for raw in names:
        name = FIELD_ALIASES.get(raw, raw)
        if name not in FIELD_IDS:
            raise E.BugzillaError(400, 51, f"There is no field named '{raw}'.")
        out.append({
            "id": FIELD_IDS[name], "name": name, "display_name": DISPLAY[name],
            "type": {"version": 0, "keywords": 8}.get(name, 2), "is_custom": False,
            "is_mandatory": name in ("component", "version", "product"),
            "is_on_bug_entry": False, "visibility_field": None, "visibility_values": [],
            "value_field": "product" if name in ("component", "version", "target_milestone")
            else None,
            "values": _field_values(req, name),
        })
    return {"fields": out}


def flag_types(req: Request, product: str, component: str | None = None) -> Any:
    st = req.state
    prod = st.product_by_name(product)
    if prod is None:
        raise E.BugzillaError(401, 106, f"Sorry, either the product {product} does not exist or "
                              "you aren't authorized to enter a bug into it.")
    if component is not None and st.component(prod["id"], component) is None:
        raise E.no_such_value("component", component).with_suffix(
            f" in the '{prod['name']}' product.")
    bug = [{"id": r["id"], "name": r["name"], "description": r["description"], "type": "bug",
            "values": ["X", "?", "+", "-"], "is_active": True,
            "is_requesteeble": bool(r["is_requesteeble"]),
            "is_multiplicable": bool(r["is_multiplicable"])}
           for r in st.db.execute("SELECT * FROM flagtypes ORDER BY id")]
    return {"bug": bug, "attachment": []}
