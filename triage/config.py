"""Configuration: one TOML file, typed dataclass sections, validated strictly.

Why strict: a typo such as ``change_kap = 5`` silently falling back to the default cap of 50 is
how a bot floods a tracker. So an unknown key, a wrong type or an invalid value is a
:class:`ConfigError` that names the key (``safety.change_cap``), never a silent default. The
checks are :mod:`triage.validation` (pydantic) over the section dataclasses below: a new section
of plain typed fields is validated as it is; ranges and addresses are declared on the fields.

Secrets are never values in the file: a setting of type :class:`Secret` names an environment
variable (``*_env``) or a file outside the repository (``*_file``); the value is read only when
used, and its ``repr`` is masked so it cannot leak into logs, reports or tracebacks.

Every setting is documented in ``docs/configuration.md``; ``tests/test_docs_cover_config.py`` keeps
the two in step. Sections owned by later features (digest, wiki, CI linking) are added here as
dataclasses; :func:`iter_settings` walks them all.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tomllib
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from triage.logscrub import register_secret
from triage.validation import Email, OptionalEmail, Port, Range, join_key, unwrap, validate

CONFIG_ENV = "XENTRIAGE_CONFIG"
PACKAGE_DIR = Path(__file__).resolve().parent
SAMPLE_SNAPSHOT = PACKAGE_DIR / "data" / "sample_snapshot.json"
SAMPLE_MAIL_ARCHIVE = PACKAGE_DIR / "data" / "sample_bugs_list.mbox"


class ConfigError(Exception):
    """A setting is missing, unknown or invalid. ``key`` is its dotted name."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class SecretUnavailable(ConfigError):
    pass


def _registered(value: str) -> str:
    register_secret(value)
    return value


@dataclass(frozen=True)
class Secret:
    """Where a secret comes from. The value itself is never stored on the object."""

    key: str  # the setting's dotted name, for error messages
    env: str | None = None
    file: Path | None = None

    def is_set(self) -> bool:
        return bool((self.env and os.environ.get(self.env)) or (self.file and self.file.exists()))

    def get(self) -> str:
        # Every secret handed out is masked in the logs from then on (triage.logscrub).
        if self.env and os.environ.get(self.env):
            return _registered(os.environ[self.env])
        if self.file is not None:
            try:
                return _registered(self.file.read_text(encoding="utf-8").strip())
            except OSError as exc:
                # The path is not secret; the content is, and is never in the message.
                raise SecretUnavailable(self.key, f"cannot read secret file {self.file}: "
                                                  f"{exc.strerror}") from None
        where = f"environment variable {self.env}" if self.env else "no source configured"
        raise SecretUnavailable(self.key, f"secret not available ({where})")

    def __repr__(self) -> str:
        return f"Secret(key={self.key!r}, env={self.env!r}, file={self.file!r}, value=<hidden>)"


# --- sections ----------------------------------------------------------------------------------


@dataclass
class GeneralSettings:
    state_dir: Path = Path("var")  # relative paths are relative to the config file's folder
    log_level: str = "INFO"
    bot_email: Email = "triage-bot@xenproject.org"
    # Accounts that are bots: never needinfo'd, never nagged, their comments are not answers.
    bot_accounts: list[str] = field(default_factory=list)


@dataclass
class SafetySettings:
    # Dry run is the default for everything that writes (Bugzilla, mail, wiki).
    production: bool = False
    # A run that plans more external writes than this aborts before writing any of them.
    change_cap: Annotated[int, Range(0)] = 50
    # Stops all external writes at once, whatever --production says.
    kill_switch: bool = False


@dataclass
class StoreSettings:
    # SQLAlchemy URL. Empty means SQLite at <state_dir>/xentriage.sqlite3.
    url: str = ""


@dataclass
class WorkflowSettings:
    """Status names differ between Bugzilla 5.2 and older installations: configuration, not code."""

    unconfirmed: str = "UNCONFIRMED"
    confirmed: str = "CONFIRMED"
    in_progress: str = "IN_PROGRESS"
    resolved: str = "RESOLVED"
    verified: str = "VERIFIED"
    reopened: str = ""  # Bugzilla 5.2 has none; older ones use REOPENED
    open_statuses: list[str] = field(
        default_factory=lambda: ["UNCONFIRMED", "CONFIRMED", "IN_PROGRESS"]
    )
    closed_statuses: list[str] = field(default_factory=lambda: ["RESOLVED", "VERIFIED"])
    fixed_resolution: str = "FIXED"
    incomplete_resolution: str = "INCOMPLETE"
    needinfo_flag: str = "needinfo"


@dataclass
class BugzillaSettings:
    # REST base URL, e.g. https://bugzilla.example.org/rest/ . Empty: serve `snapshot` read-only.
    url: str = ""
    snapshot: Path = SAMPLE_SNAPSHOT
    api_key_env: str = "XENTRIAGE_BUGZILLA_API_KEY"
    api_key_file: Path | None = None
    products: list[str] = field(default_factory=lambda: ["Xen"])
    timeout_seconds: Annotated[float, Range(above=0)] = 30.0
    retries: Annotated[int, Range(0, 20)] = 4
    retry_backoff_seconds: Annotated[float, Range(0)] = 1.0
    batch_size: Annotated[int, Range(1, 1000)] = 500  # ids per batched GET
    # Bugs per batched comment/history read (GET /rest/bug/<id>/comment?ids=..); a server that
    # answers 414 (URL too long) makes the gateway halve it on the fly.
    comment_batch_size: Annotated[int, Range(1, 5000)] = 2000
    # Fetch each changed bug's history during sync too (one more batched call per batch).
    sync_history: bool = False
    # Bugzilla 5 answers at most 500 bugs per search unless paged.
    page_size: Annotated[int, Range(1, 500)] = 500
    # Seconds re-read before the last checkpoint: Bugzilla timestamps have one-second granularity.
    sync_overlap_seconds: Annotated[int, Range(0)] = 60
    verify_tls: bool = True
    workflow: WorkflowSettings = field(default_factory=WorkflowSettings)


@dataclass
class MailSettings:
    source: str = "mbox"  # imap | maildir | mbox
    path: Path = SAMPLE_MAIL_ARCHIVE  # maildir or mbox source
    imap_host: str = "127.0.0.1"
    imap_port: Port = 993
    imap_tls: bool = True
    imap_ca_file: Path | None = None
    imap_user: str = ""
    imap_password_env: str = "XENTRIAGE_IMAP_PASSWORD"  # noqa: S105 - a variable name
    imap_password_file: Path | None = None
    folder: str = "INBOX"
    idle_timeout_seconds: Annotated[int, Range(1)] = 600
    sweep_interval_seconds: Annotated[int, Range(1)] = 300
    fetch_batch_size: Annotated[int, Range(1, 5000)] = 500
    list_address: Email = "xen-bugs@lists.xenproject.org"
    # Larger mails are quarantined unparsed (raw kept); text kept per event is capped.
    max_message_bytes: Annotated[int, Range(1024)] = 10 * 1024 * 1024
    max_text_chars: Annotated[int, Range(100)] = 65536


@dataclass
class SmtpSettings:
    host: str = "127.0.0.1"
    port: Port = 25
    starttls: bool = False
    user: str = ""
    password_env: str = "XENTRIAGE_SMTP_PASSWORD"  # noqa: S105 - a variable name
    password_file: Path | None = None
    from_address: Email = "triage-bot@xenproject.org"
    timeout_seconds: Annotated[float, Range(above=0)] = 30.0
    # "outbox" writes .eml files into <state_dir>/outbox/ (the embedded default, nothing leaves
    # the machine); "smtp" sends through host:port.
    transport: str = "outbox"
    ca_file: Path | None = None  # CA certificates for STARTTLS instead of the system's


DEFAULT_CORPORATE_DOMAINS = {
    "citrix.com": "Citrix",
    "cloud.com": "Cloud Software Group",
    "xenserver.com": "Cloud Software Group",
    "amd.com": "AMD",
    "intel.com": "Intel",
    "arm.com": "Arm",
    "suse.com": "SUSE",
    "suse.de": "SUSE",
    "vates.tech": "Vates",
    "vates.fr": "Vates",
    "amazon.com": "Amazon",
    "oracle.com": "Oracle",
    "epam.com": "EPAM",
}


@dataclass
class OrgSettings:
    """Corporate filter: who is a company working on the hypervisor."""

    # email domain -> organisation; a subdomain matches its parent (hv.citrix.com -> citrix.com).
    # The default names companies that develop Xen and track their own bugs; a deployment sets
    # its own list (an explicit empty table turns the domain filter off).
    domains: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CORPORATE_DOMAINS))
    # exact account -> organisation, or "" to force community (overrides domains)
    accounts: dict[Email, str] = field(default_factory=dict)
    # Bugzilla groups whose members count as corporate (needs an API key that may read groups)
    groups: list[str] = field(default_factory=list)
    # email domain -> project name: the project's own people (any address at the domain, other
    # than the bot accounts) are left alone like bots, and counted apart in the digest.
    project_domains: dict[str, str] = field(
        default_factory=lambda: {"xenproject.org": "Xen Project"})


@dataclass
class NagSettings:
    # At most one bot action per bug and person per cooldown.
    cooldown_days: Annotated[int, Range(0)] = 7
    # A needinfo a human cleared counts as an answer this long.
    acknowledged_days: Annotated[int, Range(0)] = 14
    optout_marker: str = "no-nag"  # whiteboard tag [no-nag]


@dataclass
class DigestSettings:
    """The weekly open-bug digest (``reports/``): who gets it, when, how long it is."""

    to: list[Email] = field(default_factory=lambda: ["xen-devel@lists.xenproject.org"])
    # When the service sends it: weekday (mon..sun) and local time in ``timezone``.
    day: str = "mon"
    time: str = "09:00"
    timezone: str = "UTC"
    # Entries listed per section in the mail; the rest are on the wiki page.
    max_entries: Annotated[int, Range(1, 1000)] = 10
    # A maintainer's text file put at the top of the mail and the page (optional).
    preface_file: Path | None = None
    # When nothing changed since the last digest that was sent: "send" a short mail or "skip".
    no_change: str = "send"
    # Send a preview to ``maintainer`` this many hours before (0: no preview).
    preview_hours: Annotated[int, Range(0, 144)] = 0
    maintainer: OptionalEmail = ""
    # A link to the previous digest: a list-archive URL with {message_id} (empty: the id only).
    archive_url: str = ""
    # The wiki page's URL, named in the mail ("N more on the wiki page").
    wiki_url: str = ""
    # Base of bug links; "" derives it from bugzilla.url (else the Xen Project's Bugzilla).
    bug_url: str = ""


@dataclass
class WikiSettings:
    """The wiki page (``wiki_export/``): a file (the embedded default) or a MediaWiki page."""

    target: str = "file"  # file | mediawiki
    # The file written with target = "file" (and always by `wiki publish` as a copy);
    # empty: <state_dir>/wiki/digest.wiki.
    file: Path | None = None
    # The wiki's base URL, where api.php lives, e.g. https://wiki.xenproject.org/w/
    url: str = ""
    page: str = "Xen bugs/Weekly digest"
    user: str = ""  # a bot-password login, "User@botname"
    password_env: str = "XENTRIAGE_WIKI_PASSWORD"  # noqa: S105 - a variable name
    password_file: Path | None = None
    uploads: bool = False  # upload the trend chart as a file and show it on the page
    chart_name: str = "Xen bugs weekly trend.png"
    timeout_seconds: Annotated[float, Range(above=0)] = 30.0
    # Daily refresh time of the page (in digest.timezone); it is also refreshed after a digest.
    refresh_time: str = "06:00"


@dataclass
class CommandSettings:
    """Who may give ``#triage`` commands by mail, and how many (docs/mail.md, "Sender
    authentication"). Strict by default: a command is acted on only when a trusted receiving
    server saw a DKIM signature aligned with ``From``, or the account confirmed it."""

    # dkim-or-confirmation | dkim | from-header (trust the strict From alone: a closed list only)
    require: str = "dkim-or-confirmation"
    # authserv-ids (RFC 8601) of the receiving servers whose Authentication-Results are believed
    authserv_ids: list[str] = field(default_factory=list)
    alignment: str = "relaxed"  # relaxed (organisational domain, RFC 7489) | strict (same domain)
    # How long a confirmation token is valid.
    confirmation_hours: Annotated[int, Range(1, 24 * 14)] = 24
    token_secret_env: str = "XENTRIAGE_COMMAND_TOKEN_SECRET"  # noqa: S105 - a variable name
    # Without either, a random key is created once under <state_dir>/command-token.key.
    token_secret_file: Path | None = None
    max_per_mail: Annotated[int, Range(1, 1000)] = 10
    max_per_sender_per_day: Annotated[int, Range(1)] = 50


@dataclass
class JobSettings:
    """Long-running jobs (`mail watch`, `serve`): how transient outages are retried. Permanent
    errors (login refused, TLS handshake or certificate failure, wrong protocol) are never
    retried: they end the job with exit 3, recorded as its run's error."""

    # First back-off; doubles each attempt.
    retry_initial_seconds: Annotated[float, Range(above=0)] = 0.5
    retry_max_seconds: Annotated[float, Range(above=0)] = 60.0  # back-off cap
    # A server unreachable (refused, timing out) this long ends the job with exit 4; 0: never.
    give_up_after_seconds: Annotated[float, Range(0)] = 900.0
    # A connection or command taking longer counts as timed out (a transient error, retried).
    network_timeout_seconds: Annotated[float, Range(above=0)] = 60.0


@dataclass
class CiSettings:
    """CI linking (docs/ci-linking.md): the farm's results in, one Bugzilla bug per cause out."""

    # The intake endpoint `serve` runs for the farm's reporter (farm.reporter); port 0: off.
    intake_host: str = "127.0.0.1"
    intake_port: Annotated[int, Range(0, 65535)] = 0
    # The HMAC-SHA256 key shared with the farm's reporter (never in this file).
    hmac_secret_env: str = "XENTRIAGE_CI_HMAC_SECRET"  # noqa: S105 - a variable name
    hmac_secret_file: Path | None = None
    max_body_bytes: Annotated[int, Range(1)] = 65536
    # A post's timestamp this far from now is stale.
    clock_skew_seconds: Annotated[int, Range(1)] = 300
    # The Buildbot master the sweep reads (its REST API) and retries flaky cells through.
    buildbot_url: str = ""
    master_name: str = ""  # the name results carry; empty: the master's URL
    sweep_page_size: Annotated[int, Range(1, 10000)] = 500
    # The sweep and linking job of `serve`; 0: no job.
    sweep_interval_minutes: Annotated[int, Range(0)] = 15
    # A newly failing cell is forced once more at the same revision before anything is filed.
    retry_new_failures: bool = True
    retry_scheduler: str = "force-cells"
    # Library -> "Product/Component" of its bugs; the rest go to the default.
    components: dict[str, str] = field(default_factory=dict)
    default_product: str = "Xen"
    default_component: str = "Unikraft"
    version: str = "unstable"
    # When every affected cell passes again: comment with the fixing revision and resolve.
    resolve_on_pass: bool = True
    # At most one "new cells" comment per bug per day.
    comment_interval_hours: Annotated[float, Range(0)] = 24.0
    # Worker owners of environment failures: worker name -> address (log, status and mail).
    worker_owners: dict[str, Email] = field(default_factory=dict)
    # Mail a worker's owner about its environment failures, once per worker, signature and
    # day (triage.ci.owners; dry run: the dry-run outbox).
    mail_worker_owners: bool = True


@dataclass
class BisectSettings:
    """Bisection of CI regressions and fixes (docs/bisection.md): which commit of the range
    broke (or fixed) a cell, on a worker of the cell's capability, within a builds budget."""

    enabled: bool = True
    # Builds per bisection, repeats included: spent, the outcome is "inconclusive: budget
    # spent", never a guessed commit.
    max_builds: Annotated[int, Range(1, 1000)] = 12
    per_day: Annotated[int, Range(0)] = 4  # bisections started per day (0: none)
    # A named commit must be right with at least this probability given the cell's flake rate.
    confidence: Annotated[float, Range(0.5, 0.9999)] = 0.95
    # Cells with a flake rate above this repeat each step (k from the rate and confidence).
    flake_threshold: Annotated[float, Range(0, 0.5)] = 0.05
    max_repeats: Annotated[int, Range(1, 50)] = 5  # runs of one step at most
    workers: Annotated[int, Range(0, 64)] = 0  # steps in parallel; 0: one per capable slot
    # A link to a commit: "" (none) or a template with {id}, e.g. https://host/commit/{id}.
    commit_url: str = ""
    # The "resolved" comment waits this long for the fix bisection, then goes without it.
    fix_wait_hours: Annotated[float, Range(0)] = 24.0
    # Worktrees and persistent build directories, one per slot (relative: to the config file).
    workdir: Path = Path("var/bisect")
    # The farm's matrix the cells come from; unset: the checkout's ci/matrix.toml.
    matrix: Path | None = None
    # The tree's git repository to bisect in; unset: the matrix tree's own path.
    repository: Path | None = None
    # How often `serve` runs the queue (the `bisect` job), in minutes; 0: no job.
    job_interval_minutes: Annotated[int, Range(0)] = 30
    # Where steps run: "local" (worktrees on this host) or "buildbot" (the farm's workers of
    # the cell's capability, through the master's bisection builders: farm.bisect_builder).
    runner: Literal["local", "buildbot"] = "local"
    # The farm master's web address for runner "buildbot" (its /api/v2), e.g.
    # http://127.0.0.1:8010/.
    buildbot_url: str = ""
    # Runner "buildbot": the master unreachable this long ends the bisection in an error.
    buildbot_outage_seconds: Annotated[float, Range(1, 3600)] = 60.0
    # Several slots as a pipeline (a finished slot starts the next step at once, a step made
    # useless is stopped) instead of rounds; only with a runner that can stop a step (local).
    pipeline: bool = False


@dataclass
class Settings:
    general: GeneralSettings = field(default_factory=GeneralSettings)
    safety: SafetySettings = field(default_factory=SafetySettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    bugzilla: BugzillaSettings = field(default_factory=BugzillaSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    orgs: OrgSettings = field(default_factory=OrgSettings)
    nag: NagSettings = field(default_factory=NagSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    wiki: WikiSettings = field(default_factory=WikiSettings)
    commands: CommandSettings = field(default_factory=CommandSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    ci: CiSettings = field(default_factory=CiSettings)
    bisect: BisectSettings = field(default_factory=BisectSettings)
    # Per-rule tables ([rules.<name>]); each rule validates its own table (triage.rules).
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)

    # Where the file was read from (None: embedded defaults); not a setting.
    source: Path | None = field(default=None, metadata={"internal": True})

    # --- derived values ---
    @property
    def state_dir(self) -> Path:
        return self.general.state_dir

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{self.general.state_dir / 'xentriage.sqlite3'}"

    def bugzilla_api_key(self) -> Secret:
        return Secret("bugzilla.api_key", env=self.bugzilla.api_key_env,
                      file=self.bugzilla.api_key_file)

    def imap_password(self) -> Secret:
        return Secret("mail.imap_password", env=self.mail.imap_password_env,
                      file=self.mail.imap_password_file)

    def command_token_secret(self) -> Secret:
        return Secret("commands.token_secret", env=self.commands.token_secret_env,
                      file=self.commands.token_secret_file)

    def smtp_password(self) -> Secret:
        return Secret("smtp.password", env=self.smtp.password_env, file=self.smtp.password_file)

    def wiki_password(self) -> Secret:
        return Secret("wiki.password", env=self.wiki.password_env, file=self.wiki.password_file)

    def ci_hmac_secret(self) -> Secret:
        return Secret("ci.hmac_secret", env=self.ci.hmac_secret_env, file=self.ci.hmac_secret_file)

    def writes_enabled(self, production_flag: bool | None = None) -> bool:
        """Writes happen only in production mode and never with the kill switch on."""
        wanted = self.safety.production if production_flag is None else production_flag
        return wanted and not self.safety.kill_switch


# --- loading -----------------------------------------------------------------------------------

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _check_time(value: str) -> str | None:
    hh, _, mm = value.partition(":")
    if hh.isdigit() and mm.isdigit() and len(mm) == 2 and int(hh) < 24 and int(mm) < 60:
        return None
    return "must be HH:MM (24-hour)"


def _check_timezone(value: str) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return "must be an IANA time zone such as UTC or Europe/London"
    return None


# Types, unknown keys, ranges (Range) and addresses (Email) are checked by triage.validation from
# the fields' declarations; this table holds the value checks a type does not say (choices with
# their own wording, URLs, HH:MM times, time zones), run on the keys a file sets.
_VALIDATORS: dict[str, typing.Callable[[Any], str | None]] = {
    "general.log_level": lambda v: None
    if v in {"DEBUG", "INFO", "WARNING", "ERROR"} else "must be DEBUG, INFO, WARNING or ERROR",
    "mail.source": lambda v: None
    if v in {"imap", "maildir", "mbox"} else "must be imap, maildir or mbox",
    "bugzilla.url": lambda v: None
    if not v or (v.startswith(("http://", "https://")) and v.rstrip("/").endswith("/rest"))
    else "must be an http(s) URL ending in /rest/ (python-bugzilla picks REST from it)",
    "smtp.transport": lambda v: None if v in {"smtp", "outbox"} else "must be smtp or outbox",
    "digest.day": lambda v: None if v in _WEEKDAYS else "must be one of " + ", ".join(_WEEKDAYS),
    "digest.time": lambda v: _check_time(v),
    "digest.timezone": lambda v: _check_timezone(v),
    "digest.no_change": lambda v: None if v in {"send", "skip"} else "must be send or skip",
    "wiki.target": lambda v: None if v in {"file", "mediawiki"} else "must be file or mediawiki",
    "wiki.url": lambda v: None if not v or v.startswith(("http://", "https://"))
    else "must be an http(s) URL",
    "wiki.refresh_time": lambda v: _check_time(v),
    "commands.require": lambda v: None if v in {"dkim-or-confirmation", "dkim", "from-header"}
    else "must be dkim-or-confirmation, dkim or from-header",
    "commands.alignment": lambda v: None if v in {"relaxed", "strict"}
    else "must be relaxed or strict",
    "bisect.commit_url": lambda v: None if not v or (
        v.startswith(("http://", "https://")) and "{id}" in v)
    else "must be empty or an http(s) URL template containing {id}",
}


def _is_internal(f: dataclasses.Field[Any]) -> bool:
    return bool(f.metadata.get("internal"))


def build_section(prefix: str, cls: type, table: dict[str, Any], base: Path) -> Any:
    """Build dataclass ``cls`` from a TOML table with the same strict checks as every section
    (the rules use it for their own ``[rules.<name>]`` tables)."""
    return _build(prefix, cls, table, base)


def _build(prefix: str, cls: type, table: dict[str, Any], base: Path) -> Any:
    # Types, unknown keys and the ranges declared on the fields: triage.validation (pydantic).
    for f in dataclasses.fields(cls):
        if _is_internal(f) and f.name in table:
            raise ConfigError(join_key(prefix, f.name), "unknown setting")
    obj = validate(cls, table, prefix=prefix, error=ConfigError, unknown="unknown setting")
    _finish(prefix, cls, obj, table, base)
    return obj


def _finish(prefix: str, cls: type, obj: Any, raw: dict[str, Any], base: Path) -> None:
    """What the file's types cannot say: paths relative to the config file's folder (given or
    default), the checks of :data:`_VALIDATORS`, and free-form tables kept as written."""
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if _is_internal(f):
            continue
        key = join_key(prefix, f.name)
        tp = unwrap(hints[f.name])
        present = f.name in raw
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(tp):
            _finish(key, typing.cast(type, tp), value, raw.get(f.name, {}), base)
        elif tp is Path and value is not None:
            if present and not raw[f.name]:
                raise ConfigError(key, "must be a non-empty path string")
            path = value.expanduser()
            # object.__setattr__: a rule's settings class may be frozen.
            object.__setattr__(obj, f.name, path if path.is_absolute() else base / path)
        elif present and typing.get_origin(tp) is dict and Any in _leaf_args(tp):
            # [rules.<name>] tables: each rule validates its own (triage.rules); keep TOML's
            # values (dates included) as the file has them.
            object.__setattr__(obj, f.name, {k: dict(v) for k, v in raw[f.name].items()})
        check = _VALIDATORS.get(key)
        problem = check(value) if present and check else None
        if problem:
            raise ConfigError(key, problem)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    # Resolving string annotations is most of a load's time; a class's hints never change.
    return typing.get_type_hints(cls)


def _leaf_args(tp: Any) -> list[Any]:
    args = list(typing.get_args(tp))
    return args + [a for arg in args for a in _leaf_args(arg)]


def load_settings(path: Path | str | None = None) -> Settings:
    """Load from ``path``, else ``$XENTRIAGE_CONFIG``, else the embedded defaults (cwd-relative)."""
    chosen = path or os.environ.get(CONFIG_ENV)
    if not chosen:
        settings = _build("", Settings, {}, Path.cwd())
        return typing.cast(Settings, settings)
    file = Path(chosen)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError("", f"cannot read config file {file}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"{file} is not valid TOML: {exc}") from None
    settings = typing.cast(Settings, _build("", Settings, data, file.resolve().parent))
    settings.source = file.resolve()
    return settings


def iter_settings(cls: type = Settings, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every documented setting as (dotted key, type): the docs test walks this."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if _is_internal(f):
            continue
        key = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from iter_settings(typing.cast(type, tp), key)
        else:
            yield key, tp
