"""The double's starting contents: the same admin, products and flag type as the contract
recordings (so replayed ids come out identical), or an empty installation with just the admin."""

from __future__ import annotations

from .state import ADMIN_GROUPS, State

CONTRACT_ADMIN_LOGIN = "admin@bugzilla.local"
CONTRACT_ADMIN_KEY = "XenTriageAdminKey00000000000000000000001"
XEN_COMPONENTS = {
    "Hypervisor": "The Xen hypervisor itself (x86, Arm)",
    "Tools": "libxl, xl, xenstored and other toolstack pieces",
    "Unikraft": "Unikraft unikernel support",
}
XEN_VERSIONS = ["unstable", "4.17", "4.18", "4.19"]
XEN_MILESTONES = ["---", "4.19", "4.20"]
KEYWORDS = {
    "needs-triage": "Needs triage",
    "patch": "A patch is available",
    "regression": "A regression from a previous release",
    "security": "Security relevant issue",
}


def seed_admin(state: State, api_key: str, password: str) -> None:
    state.add_user(CONTRACT_ADMIN_LOGIN, "Bugzilla Admin", password, ADMIN_GROUPS, api_key)


def seed_xen(state: State, extra_keywords: dict[str, str] | None = None) -> None:
    """TestProduct (id 1, as a fresh Bugzilla has) and Xen (id 2) with the recorded contents."""
    state.add_product("TestProduct", "This is a test product.",
                      {"TestComponent": "This is a test component."}, ["unspecified"])
    state.add_product("Xen", "The Xen Project hypervisor and related tools", XEN_COMPONENTS,
                      XEN_VERSIONS, XEN_MILESTONES)
    state.db.executemany("INSERT INTO keywords (name, description) VALUES (?,?)",
                         sorted({**KEYWORDS, **(extra_keywords or {})}.items()))
    state.db.execute("INSERT INTO flagtypes (name, description) VALUES (?,?)",
                     ("needinfo", "Ask someone for more information"))
