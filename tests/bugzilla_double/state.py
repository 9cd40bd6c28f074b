"""The double's SQLite-backed state: schema, clock, users, products and their lookups.

One SQLite connection (in memory unless a path is given) is shared by all server threads and
guarded by one re-entrant lock: handlers run one at a time, like a single Bugzilla DB
transaction each, while slow clients (delays, big bodies) never hold the lock.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .errors import BugzillaError, no_such_user
from .workflow import StatusWorkflow

SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, login TEXT UNIQUE NOT NULL, real_name TEXT NOT NULL,
  password TEXT, api_key TEXT UNIQUE, can_login INTEGER NOT NULL DEFAULT 1,
  email_enabled INTEGER NOT NULL DEFAULT 1);
CREATE TABLE groups (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, description TEXT NOT NULL);
CREATE TABLE user_groups (user_id INTEGER, group_id INTEGER, PRIMARY KEY (user_id, group_id));
CREATE TABLE tokens (token TEXT PRIMARY KEY, user_id INTEGER NOT NULL);
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, description TEXT,
  classification TEXT NOT NULL DEFAULT 'Unclassified', default_milestone TEXT NOT NULL
  DEFAULT '---', has_unconfirmed INTEGER NOT NULL DEFAULT 1, is_active INTEGER NOT NULL DEFAULT 1);
CREATE TABLE components (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, name TEXT NOT NULL,
  description TEXT, default_assignee INTEGER NOT NULL, is_active INTEGER NOT NULL DEFAULT 1);
CREATE TABLE versions (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, name TEXT NOT NULL);
CREATE TABLE milestones (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, name TEXT NOT NULL);
CREATE TABLE keywords (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, description TEXT);
CREATE TABLE flagtypes (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, description TEXT,
  is_multiplicable INTEGER NOT NULL DEFAULT 1, is_requesteeble INTEGER NOT NULL DEFAULT 1);
CREATE TABLE bugs (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL,
  component_id INTEGER NOT NULL, version TEXT NOT NULL, summary TEXT NOT NULL,
  status TEXT NOT NULL, resolution TEXT NOT NULL DEFAULT '', everconfirmed INTEGER NOT NULL,
  platform TEXT NOT NULL, op_sys TEXT NOT NULL, severity TEXT NOT NULL, priority TEXT NOT NULL,
  target_milestone TEXT NOT NULL, assigned_to INTEGER NOT NULL, qa_contact INTEGER,
  reporter INTEGER NOT NULL, whiteboard TEXT NOT NULL DEFAULT '', url TEXT NOT NULL DEFAULT '',
  creation_ts INTEGER NOT NULL, delta_ts INTEGER NOT NULL, lastdiffed INTEGER,
  private_group TEXT);
CREATE INDEX bugs_delta ON bugs (delta_ts);
CREATE TABLE bug_cc (bug_id INTEGER, user_id INTEGER, PRIMARY KEY (bug_id, user_id));
CREATE TABLE bug_keywords (bug_id INTEGER, keyword TEXT, PRIMARY KEY (bug_id, keyword));
CREATE TABLE flags (id INTEGER PRIMARY KEY, bug_id INTEGER NOT NULL, type_id INTEGER NOT NULL,
  status TEXT NOT NULL, setter INTEGER NOT NULL, requestee INTEGER, creation_ts INTEGER NOT NULL,
  modification_ts INTEGER NOT NULL);
CREATE INDEX flags_bug ON flags (bug_id);
CREATE TABLE comments (id INTEGER PRIMARY KEY, bug_id INTEGER NOT NULL, who INTEGER NOT NULL,
  ts INTEGER NOT NULL, text TEXT NOT NULL, is_private INTEGER NOT NULL DEFAULT 0,
  attachment_id INTEGER);
CREATE INDEX comments_bug ON comments (bug_id);
CREATE TABLE activity (id INTEGER PRIMARY KEY, bug_id INTEGER NOT NULL, who INTEGER NOT NULL,
  ts INTEGER NOT NULL, field TEXT NOT NULL, removed TEXT NOT NULL, added TEXT NOT NULL);
CREATE INDEX activity_bug ON activity (bug_id);
CREATE TABLE attachments (id INTEGER PRIMARY KEY, bug_id INTEGER NOT NULL, creator INTEGER NOT
  NULL, ts INTEGER NOT NULL, file_name TEXT NOT NULL, summary TEXT NOT NULL, content_type TEXT
  NOT NULL, data BLOB NOT NULL, is_patch INTEGER NOT NULL DEFAULT 0,
  is_private INTEGER NOT NULL DEFAULT 0, is_obsolete INTEGER NOT NULL DEFAULT 0);
"""

# Bugzilla 5.2's system groups, ids as in the recording (007).
SYSTEM_GROUPS = (
    (1, "admin", "Administrators"),
    (2, "tweakparams", "Can change Parameters"),
    (3, "editusers", "Can edit or disable users"),
    (4, "creategroups", "Can create and destroy groups"),
    (5, "editclassifications", "Can create, destroy, and edit classifications"),
    (6, "editcomponents", "Can create, destroy, and edit components"),
    (7, "editkeywords", "Can create, destroy, and edit keywords"),
    (8, "editbugs", "Can edit all bug fields"),
    (9, "canconfirm", "Can confirm a bug or mark it a duplicate"),
    (10, "bz_canusewhineatothers", "Can configure whine reports for other users"),
    (11, "bz_canusewhines", "User can configure whine reports for self"),
    (12, "bz_sudoers", "Can perform actions as other users"),
    (13, "bz_sudo_protect", "Can not be impersonated by other users"),
    (14, "bz_quip_moderators", "Can moderate quips"),
    (15, "private", "Bugs only insiders may see (the double's make_private)"),
)
ADMIN_GROUPS = tuple(g[1] for g in SYSTEM_GROUPS if g[1] != "private")

PLATFORMS = ("All", "PC", "Macintosh", "Other")
OP_SYSES = ("All", "Windows", "Mac OS", "Linux", "Other")
SEVERITIES = ("blocker", "critical", "major", "normal", "minor", "trivial", "enhancement")
PRIORITIES = ("Highest", "High", "Normal", "Low", "Lowest", "---")


def format_ts(epoch: int) -> str:
    """Bugzilla's REST timestamp format: ``2026-11-27T00:22:10Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    """The double's time source: real time, optionally shifted or frozen by tests."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen: float | None = None
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            t = self._frozen if self._frozen is not None else time.time() + self._offset
        return int(t)

    def set(self, when: datetime | float | str, *, frozen: bool = True) -> None:
        if isinstance(when, str):
            when = datetime.fromisoformat(when.replace("Z", "+00:00"))
        if isinstance(when, datetime):
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            when = when.timestamp()
        with self._lock:
            if frozen:
                self._frozen = float(when)
            else:
                self._frozen = None
                self._offset = float(when) - time.time()

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds


@dataclass(frozen=True)
class User:
    id: int
    login: str
    real_name: str
    groups: frozenset[str] = field(default_factory=frozenset)
    can_login: bool = True
    email_enabled: bool = True

    def in_group(self, name: str) -> bool:
        return name in self.groups or "admin" in self.groups

    @property
    def display(self) -> str:
        """How Bugzilla names a user in mails: ``Real Name <login>`` or just the login."""
        return f"{self.real_name} <{self.login}>" if self.real_name else self.login


# What a stock Bugzilla 5.2 gives every account, measured on a real installation: editbugs and
# canconfirm carry the user regexp ".*", so everybody may edit any field and files new bugs
# CONFIRMED. (The contract recordings were made with those regexps cleared: no default groups.)
STOCK_DEFAULT_GROUPS = ("editbugs", "canconfirm")


class State:
    """SQLite tables plus cached lookups of the small, slowly changing tables."""

    def __init__(self, workflow: StatusWorkflow, db_path: str = ":memory:", *,
                 default_groups: Iterable[str] = STOCK_DEFAULT_GROUPS,
                 use_target_milestone: bool = False) -> None:
        self.lock = threading.RLock()
        # A stock 5.2 grants these to every account (the groups' user regexp is ".*").
        self.default_groups = tuple(default_groups)
        # The ``usetargetmilestone`` parameter: off in a stock installation.
        self.use_target_milestone = use_target_milestone
        self.db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)
        self.db.executemany("INSERT INTO groups VALUES (?,?,?)", SYSTEM_GROUPS)
        self.workflow = workflow
        self.clock = Clock()
        self._users: dict[int, User] = {}
        self._users_by_login: dict[str, User] = {}

    # -- users --------------------------------------------------------------------------
    def _load_users(self) -> None:
        groups: dict[int, set[str]] = {}
        for row in self.db.execute(
            "SELECT ug.user_id, g.name FROM user_groups ug JOIN groups g ON g.id = ug.group_id"
        ):
            groups.setdefault(row[0], set()).add(row[1])
        users = {}
        for row in self.db.execute("SELECT * FROM users"):
            users[row["id"]] = User(
                row["id"], row["login"], row["real_name"], frozenset(groups.get(row["id"], ())),
                bool(row["can_login"]), bool(row["email_enabled"]),
            )
        self._users = users
        self._users_by_login = {u.login.lower(): u for u in users.values()}

    def user(self, user_id: int) -> User:
        if user_id not in self._users:
            self._load_users()
        return self._users[user_id]

    def find_user(self, login: str) -> User | None:
        key = login.lower()
        if key not in self._users_by_login:
            self._load_users()
        return self._users_by_login.get(key)

    def check_user(self, login: str) -> User:
        found = self.find_user(str(login))
        if found is None:
            raise no_such_user(str(login))
        return found

    def all_users(self) -> list[User]:
        self._load_users()
        return sorted(self._users.values(), key=lambda u: u.id)

    def add_user(self, login: str, real_name: str = "", password: str | None = None,
                 groups: Iterable[str] = (), api_key: str | None = None) -> User:
        cur = self.db.execute(
            "INSERT INTO users (login, real_name, password, api_key) VALUES (?,?,?,?)",
            (login, real_name, password, api_key),
        )
        user_id = int(cur.lastrowid or 0)
        self.set_groups(user_id, add=[*self.default_groups, *groups])
        return self.user(user_id)

    def set_groups(self, user_id: int, add: Iterable[str] = (),
                   remove: Iterable[str] = ()) -> None:
        for name in add:
            gid = self.group_id(name)
            self.db.execute("INSERT OR IGNORE INTO user_groups VALUES (?,?)", (user_id, gid))
        for name in remove:
            gid = self.group_id(name)
            self.db.execute("DELETE FROM user_groups WHERE user_id=? AND group_id=?",
                            (user_id, gid))
        self._load_users()

    def group_id(self, name: str) -> int:
        row = self.db.execute("SELECT id FROM groups WHERE name=?", (name,)).fetchone()
        if row is None:
            raise BugzillaError(404, 51, f"There is no group named '{name}'.")
        return int(row[0])

    def user_for_api_key(self, key: str) -> User | None:
        row = self.db.execute("SELECT id FROM users WHERE api_key=?", (key,)).fetchone()
        return self.user(row[0]) if row else None

    def user_for_token(self, token: str) -> User | None:
        row = self.db.execute("SELECT user_id FROM tokens WHERE token=?", (token,)).fetchone()
        return self.user(row[0]) if row else None

    def login(self, login: str, password: str) -> tuple[User, str]:
        row = self.db.execute(
            "SELECT id, password FROM users WHERE lower(login)=lower(?)", (login,)
        ).fetchone()
        if row is None or row["password"] is None or row["password"] != password:
            raise BugzillaError(401, 300, "The login or password you entered is not valid.")
        token = f"{row['id']}-{secrets.token_urlsafe(8)[:10]}"
        self.db.execute("INSERT INTO tokens VALUES (?,?)", (token, row["id"]))
        return self.user(row["id"]), token

    def new_api_key(self, user_id: int) -> str:
        key = secrets.token_hex(20)
        self.db.execute("UPDATE users SET api_key=? WHERE id=?", (key, user_id))
        return key

    # -- products -----------------------------------------------------------------------
    def product_by_name(self, name: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM products WHERE name=?", (name,)).fetchone()

    def product_by_id(self, pid: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM products WHERE id=?", (pid,)).fetchone()

    def component(self, product_id: int, name: str) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT * FROM components WHERE product_id=? AND name=?", (product_id, name)
        ).fetchone()

    def names(self, table: str, product_id: int) -> list[str]:
        return [r[0] for r in self.db.execute(
            f"SELECT name FROM {table} WHERE product_id=? ORDER BY id", (product_id,))]

    def keyword_names(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM keywords ORDER BY name")]

    def flagtype_by_name(self, name: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM flagtypes WHERE name=?", (name,)).fetchone()

    def flagtype_by_id(self, type_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM flagtypes WHERE id=?", (type_id,)).fetchone()

    def add_product(self, name: str, description: str, components: dict[str, str],
                    versions: Iterable[str], milestones: Iterable[str] = (),
                    default_assignee: str = "admin@bugzilla.local",
                    has_unconfirmed: bool = True) -> int:
        cur = self.db.execute(
            "INSERT INTO products (name, description, has_unconfirmed) VALUES (?,?,?)",
            (name, description, int(has_unconfirmed)),
        )
        pid = int(cur.lastrowid or 0)
        for comp, desc in components.items():
            self.add_component(pid, comp, desc, default_assignee)
        for v in versions:
            self.db.execute("INSERT INTO versions (product_id, name) VALUES (?,?)", (pid, v))
        for m in ["---", *[m for m in milestones if m != "---"]]:
            self.db.execute("INSERT INTO milestones (product_id, name) VALUES (?,?)", (pid, m))
        return pid

    def add_component(self, product_id: int, name: str, description: str,
                      default_assignee: str) -> int:
        assignee = self.check_user(default_assignee)
        cur = self.db.execute(
            "INSERT INTO components (product_id, name, description, default_assignee) "
            "VALUES (?,?,?,?)", (product_id, name, description, assignee.id),
        )
        return int(cur.lastrowid or 0)
