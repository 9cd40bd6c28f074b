"""Configuration: one TOML file, typed dataclass sections, validated strictly.

Why strict: a typo such as ``change_kap = 5`` silently falling back to the default cap of 50 is
how a bot floods a tracker. So an unknown key, a wrong type or an invalid value is a
:class:`ConfigError` that names the key (``safety.change_cap``), never a silent default.

Secrets are never values in the file: a setting of type :class:`Secret` names an environment
variable (``*_env``) or a file outside the repository (``*_file``); the value is read only when
used, and its ``repr`` is masked so it cannot leak into logs, reports or tracebacks.

Every setting is documented in ``docs/configuration.md``; ``tests/test_docs_cover_config.py`` keeps
the two in step. Sections owned by later features (digest, wiki, CI linking) are added here as
dataclasses; :func:`iter_settings` walks them all.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Secret:
    """Where a secret comes from. The value itself is never stored on the object."""

    key: str  # the setting's dotted name, for error messages
    env: str | None = None
    file: Path | None = None

    def is_set(self) -> bool:
        return bool((self.env and os.environ.get(self.env)) or (self.file and self.file.exists()))

    def get(self) -> str:
        if self.env and os.environ.get(self.env):
            return os.environ[self.env]
        if self.file is not None:
            try:
                return self.file.read_text(encoding="utf-8").strip()
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
    bot_email: str = "triage-bot@xenproject.org"
    # Accounts that are bots: never needinfo'd, never nagged, their comments are not answers.
    bot_accounts: list[str] = field(default_factory=list)


@dataclass
class SafetySettings:
    # Dry run is the default for everything that writes (Bugzilla, mail, wiki).
    production: bool = False
    # A run that plans more external writes than this aborts before writing any of them.
    change_cap: int = 50
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
    timeout_seconds: float = 30.0
    retries: int = 4
    retry_backoff_seconds: float = 1.0
    batch_size: int = 500  # ids per batched GET
    # Bugs per batched comment/history read (GET /rest/bug/<id>/comment?ids=..); a server that
    # answers 414 (URL too long) makes the gateway halve it on the fly.
    comment_batch_size: int = 2000
    # Fetch each changed bug's history during sync too (one more batched call per batch).
    sync_history: bool = False
    page_size: int = 500  # Bugzilla 5 answers at most 500 bugs per search unless paged
    # Seconds re-read before the last checkpoint: Bugzilla timestamps have one-second granularity.
    sync_overlap_seconds: int = 60
    verify_tls: bool = True
    workflow: WorkflowSettings = field(default_factory=WorkflowSettings)


@dataclass
class MailSettings:
    source: str = "mbox"  # imap | maildir | mbox
    path: Path = SAMPLE_MAIL_ARCHIVE  # maildir or mbox source
    imap_host: str = "127.0.0.1"
    imap_port: int = 993
    imap_tls: bool = True
    imap_ca_file: Path | None = None
    imap_user: str = ""
    imap_password_env: str = "XENTRIAGE_IMAP_PASSWORD"  # noqa: S105 - a variable name
    imap_password_file: Path | None = None
    folder: str = "INBOX"
    idle_timeout_seconds: int = 600
    sweep_interval_seconds: int = 300
    fetch_batch_size: int = 500
    list_address: str = "xen-bugs@lists.xenproject.org"
    # Larger mails are quarantined unparsed (raw kept); text kept per event is capped.
    max_message_bytes: int = 10 * 1024 * 1024
    max_text_chars: int = 65536


@dataclass
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    user: str = ""
    password_env: str = "XENTRIAGE_SMTP_PASSWORD"  # noqa: S105 - a variable name
    password_file: Path | None = None
    from_address: str = "triage-bot@xenproject.org"
    timeout_seconds: float = 30.0
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
    accounts: dict[str, str] = field(default_factory=dict)
    # Bugzilla groups whose members count as corporate (needs an API key that may read groups)
    groups: list[str] = field(default_factory=list)
    # email domain -> project name: the project's own people (any address at the domain, other
    # than the bot accounts) are left alone like bots, and counted apart in the digest.
    project_domains: dict[str, str] = field(
        default_factory=lambda: {"xenproject.org": "Xen Project"})


@dataclass
class NagSettings:
    cooldown_days: int = 7  # at most one bot action per bug and person per cooldown
    acknowledged_days: int = 14  # a needinfo a human cleared counts as an answer this long
    optout_marker: str = "no-nag"  # whiteboard tag [no-nag]


@dataclass
class DigestSettings:
    """The weekly open-bug digest (``reports/``): who gets it, when, how long it is."""

    to: list[str] = field(default_factory=lambda: ["xen-devel@lists.xenproject.org"])
    # When the service sends it: weekday (mon..sun) and local time in ``timezone``.
    day: str = "mon"
    time: str = "09:00"
    timezone: str = "UTC"
    # Entries listed per section in the mail; the rest are on the wiki page.
    max_entries: int = 10
    # A maintainer's text file put at the top of the mail and the page (optional).
    preface_file: Path | None = None
    # When nothing changed since the last digest that was sent: "send" a short mail or "skip".
    no_change: str = "send"
    # Send a preview to ``maintainer`` this many hours before (0: no preview).
    preview_hours: int = 0
    maintainer: str = ""
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
    timeout_seconds: float = 30.0
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
    confirmation_hours: int = 24  # how long a confirmation token is valid
    token_secret_env: str = "XENTRIAGE_COMMAND_TOKEN_SECRET"  # noqa: S105 - a variable name
    # Without either, a random key is created once under <state_dir>/command-token.key.
    token_secret_file: Path | None = None
    max_per_mail: int = 10
    max_per_sender_per_day: int = 50


@dataclass
class JobSettings:
    """Long-running jobs (`mail watch`, `serve`): how transient outages are retried. Permanent
    errors (login refused, TLS handshake or certificate failure, wrong protocol) are never
    retried: they end the job with exit 3, recorded as its run's error."""

    retry_initial_seconds: float = 0.5  # first back-off; doubles each attempt
    retry_max_seconds: float = 60.0  # back-off cap
    # A server unreachable (refused, timing out) this long ends the job with exit 4; 0: never.
    give_up_after_seconds: float = 900.0
    # A connection or command taking longer counts as timed out (a transient error, retried).
    network_timeout_seconds: float = 60.0


@dataclass
class CiSettings:
    """CI linking (docs/ci-linking.md): the farm's results in, one Bugzilla bug per cause out."""

    # The intake endpoint `serve` runs for the farm's reporter (farm.reporter); port 0: off.
    intake_host: str = "127.0.0.1"
    intake_port: int = 0
    # The HMAC-SHA256 key shared with the farm's reporter (never in this file).
    hmac_secret_env: str = "XENTRIAGE_CI_HMAC_SECRET"  # noqa: S105 - a variable name
    hmac_secret_file: Path | None = None
    max_body_bytes: int = 65536
    clock_skew_seconds: int = 300  # a post's timestamp this far from now is stale
    # The Buildbot master the sweep reads (its REST API) and retries flaky cells through.
    buildbot_url: str = ""
    master_name: str = ""  # the name results carry; empty: the master's URL
    sweep_page_size: int = 500
    sweep_interval_minutes: int = 15  # the sweep and linking job of `serve`; 0: no job
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
    comment_interval_hours: float = 24.0  # at most one "new cells" comment per bug per day
    # Worker owners of environment failures: worker name -> address (log and status only).
    worker_owners: dict[str, str] = field(default_factory=dict)


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


_VALIDATORS: dict[str, typing.Callable[[Any], str | None]] = {
    "general.log_level": lambda v: None
    if v in {"DEBUG", "INFO", "WARNING", "ERROR"} else "must be DEBUG, INFO, WARNING or ERROR",
    "safety.change_cap": lambda v: None if v >= 0 else "must be >= 0",
    "mail.source": lambda v: None
    if v in {"imap", "maildir", "mbox"} else "must be imap, maildir or mbox",
    "bugzilla.url": lambda v: None
    if not v or (v.startswith(("http://", "https://")) and v.rstrip("/").endswith("/rest"))
    else "must be an http(s) URL ending in /rest/ (python-bugzilla picks REST from it)",
    "bugzilla.batch_size": lambda v: None if 1 <= v <= 1000 else "must be 1..1000",
    "bugzilla.comment_batch_size": lambda v: None if 1 <= v <= 5000 else "must be 1..5000",
    "bugzilla.page_size": lambda v: None if 1 <= v <= 500 else "must be 1..500",
    "bugzilla.retries": lambda v: None if 0 <= v <= 20 else "must be 0..20",
    "mail.max_message_bytes": lambda v: None if v >= 1024 else "must be >= 1024",
    "mail.max_text_chars": lambda v: None if v >= 100 else "must be >= 100",
    "mail.fetch_batch_size": lambda v: None if 1 <= v <= 5000 else "must be 1..5000",
    "smtp.transport": lambda v: None if v in {"smtp", "outbox"} else "must be smtp or outbox",
    "smtp.port": lambda v: None if 1 <= v <= 65535 else "must be 1..65535",
    "smtp.timeout_seconds": lambda v: None if v > 0 else "must be > 0",
    "digest.day": lambda v: None if v in _WEEKDAYS else "must be one of " + ", ".join(_WEEKDAYS),
    "digest.time": lambda v: _check_time(v),
    "digest.timezone": lambda v: _check_timezone(v),
    "digest.max_entries": lambda v: None if 1 <= v <= 1000 else "must be 1..1000",
    "digest.no_change": lambda v: None if v in {"send", "skip"} else "must be send or skip",
    "digest.preview_hours": lambda v: None if 0 <= v <= 144 else "must be 0..144",
    "digest.maintainer": lambda v: None if not v or "@" in v else "must be an email address",
    "wiki.target": lambda v: None if v in {"file", "mediawiki"} else "must be file or mediawiki",
    "wiki.url": lambda v: None if not v or v.startswith(("http://", "https://"))
    else "must be an http(s) URL",
    "wiki.refresh_time": lambda v: _check_time(v),
    "wiki.timeout_seconds": lambda v: None if v > 0 else "must be > 0",
    "commands.require": lambda v: None if v in {"dkim-or-confirmation", "dkim", "from-header"}
    else "must be dkim-or-confirmation, dkim or from-header",
    "commands.alignment": lambda v: None if v in {"relaxed", "strict"}
    else "must be relaxed or strict",
    "commands.confirmation_hours": lambda v: None if 1 <= v <= 24 * 14 else "must be 1..336",
    "commands.max_per_mail": lambda v: None if 1 <= v <= 1000 else "must be 1..1000",
    "commands.max_per_sender_per_day": lambda v: None if v >= 1 else "must be >= 1",
    "jobs.retry_initial_seconds": lambda v: None if v > 0 else "must be > 0",
    "jobs.retry_max_seconds": lambda v: None if v > 0 else "must be > 0",
    "jobs.give_up_after_seconds": lambda v: None if v >= 0 else "must be >= 0 (0: never)",
    "jobs.network_timeout_seconds": lambda v: None if v > 0 else "must be > 0",
    "ci.intake_port": lambda v: None if 0 <= v <= 65535 else "must be 0..65535",
    "ci.max_body_bytes": lambda v: None if v > 0 else "must be > 0",
    "ci.clock_skew_seconds": lambda v: None if v > 0 else "must be > 0",
    "ci.sweep_page_size": lambda v: None if 1 <= v <= 10000 else "must be 1..10000",
    "ci.comment_interval_hours": lambda v: None if v >= 0 else "must be >= 0",
}


def _is_internal(f: dataclasses.Field[Any]) -> bool:
    return bool(f.metadata.get("internal"))


def _convert(key: str, tp: Any, value: Any, base: Path) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(key, args[0], value, base)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(key, f"must be a table, not {type(value).__name__}")
        return _build(key, typing.cast(type, tp), value, base)
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(key, "must be a non-empty path string")
        p = Path(value).expanduser()
        return p if p.is_absolute() else (base / p)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"must be true or false, not {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"must be an integer, not {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, f"must be a number, not {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, not {value!r}")
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(key, "must be a list")
        return [_convert(f"{key}[{i}]", item_tp, v, base) for i, v in enumerate(value)]
    if origin is dict:
        _, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(key, "must be a table")
        if val_tp is Any:
            return dict(value)
        return {str(k): _convert(f"{key}.{k}", val_tp, v, base) for k, v in value.items()}
    raise ConfigError(key, f"unsupported setting type {tp!r}")  # pragma: no cover


def build_section(prefix: str, cls: type, table: dict[str, Any], base: Path) -> Any:
    """Build dataclass ``cls`` from a TOML table with the same strict checks as every section
    (the rules use it for their own ``[rules.<name>]`` tables)."""
    return _build(prefix, cls, table, base)


def _build(prefix: str, cls: type, table: dict[str, Any], base: Path) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not _is_internal(f)}
    kwargs: dict[str, Any] = {}
    for name, value in table.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(key, f"unknown setting (known here: {known})")
        converted = _convert(key, hints[name], value, base)
        check = _VALIDATORS.get(key)
        problem = check(converted) if check else None
        if problem:
            raise ConfigError(key, problem)
        kwargs[name] = converted
    for name in fields:
        # Absent sections are built too, so their relative default paths get resolved below.
        if name not in kwargs and dataclasses.is_dataclass(hints[name]):
            sub = f"{prefix}.{name}" if prefix else name
            kwargs[name] = _build(sub, typing.cast(type, hints[name]), {}, base)
    obj = cls(**kwargs)
    # Relative default paths are relative to the config file's folder too.
    for name in fields:
        if name not in kwargs and hints[name] is Path:
            current = getattr(obj, name)
            if not current.is_absolute():
                setattr(obj, name, base / current)
    return obj


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
