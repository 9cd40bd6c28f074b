"""The small base every triage rule is built on.

A rule is one module with one :class:`Rule` subclass. It is *pure*: :meth:`Rule.evaluate` takes a
:class:`~triage.model.Bug` and a :class:`RuleContext` (everything the engine looked up for it) and
returns a :class:`RuleResult`: the :class:`~triage.model.Decision` s it reached (what and why: every
one is stored, ``xentriage explain`` replays them), the :class:`~triage.model.Change` s it would
write, and the :class:`StateUpdate` the bug moves to once those changes are applied. The engine
does all I/O, the nag ledger, the change cap, dry run versus production.

Learned from mozilla/bugbot and Mailman 3's chains, without bugbot's 80-hook god class: a rule has
exactly three things to say (``name``, ``applies_to``, ``evaluate``), per-rule settings are a typed
dataclass validated strictly, and templates load from the package (never the working directory).

Templates and hostile text: comment templates are rendered with ``StrictUndefined`` (a missing
value is an error, not an empty string) and without HTML autoescaping (Bugzilla comments are plain
text), but a template can print only :class:`Clean` values or numbers: every user-controlled value
must pass through :func:`sanitize` (or a constant through :func:`trusted`) or rendering fails.
User text is only ever *data* handed to a template, never a template, so Jinja syntax in a bug does
nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import textwrap
import typing
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from triage.config import ConfigError, Settings, build_section
from triage.model import (
    Bug,
    BugUpdate,
    Change,
    Decision,
    FlagChange,
    TriageCommand,
    TriageState,
)
from triage.validation import Range

if TYPE_CHECKING:  # Jinja2 loads when a template renders, not for `config check` or `--help`
    import jinja2

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
# --- states -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateRecord:
    """A bug's current triage state as the store holds it (``triage_states``)."""

    bug_id: int
    state: TriageState = TriageState.NEW
    since: datetime | None = None
    claimed_by: str = ""
    claimed_at: datetime | None = None
    organisation: str = ""
    fix_reference: str = ""


@dataclass(frozen=True)
class StateUpdate:
    """A transition a rule proposes. Committed by the engine when every change of the same result
    was applied (at once if the result has no changes). ``None`` fields are left as they are;
    ``""`` clears a text field."""

    state: TriageState
    reason: str
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    clear_claim: bool = False
    organisation: str | None = None
    fix_reference: str | None = None

    def apply_to(self, record: StateRecord, now: datetime) -> StateRecord:
        changed_state = record.state != self.state
        return dataclasses.replace(
            record,
            state=self.state,
            since=now if changed_state or record.since is None else record.since,
            claimed_by="" if self.clear_claim else (
                record.claimed_by if self.claimed_by is None else self.claimed_by),
            claimed_at=None if self.clear_claim else (
                record.claimed_at if self.claimed_at is None else self.claimed_at),
            organisation=record.organisation if self.organisation is None else self.organisation,
            fix_reference=(record.fix_reference if self.fix_reference is None
                           else self.fix_reference),
        )


# --- what a rule returns ------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    decisions: tuple[Decision, ...] = ()
    changes: tuple[Change, ...] = ()
    state: StateUpdate | None = None
    # Stop the chain for this bug after this rule (Mailman's "accept/discard": e.g. a corporate bug
    # is out of the community flow, so no later rule looks at it).
    stop: bool = False

    def __bool__(self) -> bool:
        return bool(self.decisions or self.changes or self.state)


NOTHING = RuleResult()


# --- per-rule settings --------------------------------------------------------------------------


@dataclass
class RuleSettings:
    """Base of every rule's settings dataclass (the ``[rules.<name>]`` table).

    Convention: a rule declares ``settings_class = MySettings`` where ``MySettings`` subclasses
    this with typed, defaulted fields; :func:`parse_rule_settings` builds it strictly (unknown key,
    wrong type: a :class:`ConfigError` naming ``rules.<name>.<key>``) and then calls
    :meth:`problems` for checks beyond types. Every key is documented in docs/configuration.md.
    """

    enabled: bool = True

    def problems(self) -> list[tuple[str, str]]:
        """(key, message) pairs for invalid values; keys are relative to the rule's table."""
        return []


def parse_rule_settings(rule_name: str, cls: type[RuleSettings], table: Mapping[str, Any],
                        base: Path | None = None) -> RuleSettings:
    prefix = f"rules.{rule_name}"
    if not isinstance(table, Mapping):
        raise ConfigError(prefix, "must be a table")
    # The config module's strict builder: same messages and type rules as every other section.
    built = typing.cast(RuleSettings, build_section(prefix, cls, dict(table), base or Path.cwd()))
    for key, message in built.problems():
        raise ConfigError(f"{prefix}.{key}", message)
    return built


# A number of days (or rounds) in a rule's table: at least one. Ranges are declared on the
# fields and checked with the table's types (triage.validation); problems() is for the rest.
Days = Annotated[int, Range(1)]


# --- sanitising and templates -------------------------------------------------------------------


class Clean(str):
    """A string that passed :func:`sanitize` or :func:`trusted`: the only strings a template
    prints."""

    __slots__ = ()


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
_MARKER_LIKE = re.compile(r"\[\s*(xt|xentriage):", re.I)


def sanitize(value: object, *, max_length: int = 200, defuse_markers: bool = True) -> Clean:
    """User-controlled text made safe to quote inside a bot comment.

    One line (CR/LF/tabs become spaces), no control or bidi-override characters (they can make a
    quote read differently from what it is), no look-alike bot markers (``[xt:...]``), at most
    ``max_length`` characters. Markup (HTML, wiki, Jinja) is left as text: Bugzilla shows comments
    as plain text, and values are never parsed as templates.
    """
    text = unicodedata.normalize("NFC", str(value))
    text = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace("\t", " ")
    text = _CONTROL.sub("", text)
    if defuse_markers:
        # A non-breaking hyphen for the colon: quoted text can no longer pass for a bot marker.
        text = _MARKER_LIKE.sub(lambda m: f"[{m.group(1)}\u2011", text)
    text = re.sub(r" {2,}", " ", text).strip()
    if len(text) > max_length:
        text = text[: max_length - 1].rstrip() + "\u2026"
    return Clean(text)


def trusted(value: str) -> Clean:
    """A constant the bot's own code wrote (a checklist label, a status name)."""
    return Clean(value)


def _finalize(value: Any) -> Any:
    if isinstance(value, Clean | bool | int | float) or value is None:
        return "" if value is None else value
    import jinja2

    if isinstance(value, jinja2.Undefined):
        return value
    raise TypeError(
        f"template printed an unsanitised {type(value).__name__}: pass user text through "
        "triage.rules.base.sanitize() (or trusted() for constants)"
    )


COMMENT_WIDTH = 72  # Bugzilla shows comments in a fixed-width font; keep them readable


def _checked(value: Any, filter_name: str) -> Clean:
    if not isinstance(value, Clean):
        raise TypeError(f"the {filter_name} filter takes sanitised text, not "
                        f"{type(value).__name__}")
    return value


def _wrap(value: Any, width: int = COMMENT_WIDTH, indent: str = "") -> Clean:
    """``{{ text | wrap }}``: fill to the comment width (only for sanitised text)."""
    text = _checked(value, "wrap")
    return Clean(textwrap.fill(text, width=width, initial_indent=indent,
                               subsequent_indent=indent, break_on_hyphens=False,
                               break_long_words=False))


def _bullet(value: Any, width: int = COMMENT_WIDTH) -> Clean:
    """``{{ text | bullet }}``: a ``* `` list item filled with a hanging indent."""
    return _fill_bullet(_checked(value, "bullet"), width)


@functools.lru_cache(maxsize=512)
def _fill_bullet(text: Clean, width: int) -> Clean:
    # Cached: the checklist questions are the same few texts in thousands of follow-ups, and
    # textwrap was half the cost of a 5,000-bug pass.
    return Clean(textwrap.fill(text, width=width, initial_indent="* ", subsequent_indent="  ",
                               break_on_hyphens=False, break_long_words=False))


_ENV: jinja2.Environment | None = None


def template_environment() -> jinja2.Environment:
    """The one template environment: loads from the package, never from the working directory."""
    global _ENV
    if _ENV is None:
        import jinja2

        _ENV = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # noqa: S701 - Bugzilla comments are plain text; see sanitize()
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=_finalize,
            # Templates ship with the package: no stat() per render to see if they changed.
            auto_reload=False,
        )
        _ENV.filters["wrap"] = _wrap
        _ENV.filters["bullet"] = _bullet
    return _ENV


_COMPILED: dict[str, jinja2.Template] = {}


def render(template: str, **values: Any) -> str:
    """Render ``templates/<template>``; trailing whitespace on lines is dropped."""
    compiled = _COMPILED.get(template)
    if compiled is None:
        # Jinja's own LRU cache reorders a deque on every hit: measurable over thousands of
        # follow-ups in a pass. The handful of templates are compiled once.
        compiled = _COMPILED[template] = template_environment().get_template(template)
    text = compiled.render(**values)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()) + "\n"


# --- the context a rule sees --------------------------------------------------------------------


@dataclass(frozen=True)
class RuleContext:
    """Everything a rule may know beyond the bug. Built by the engine; rules never query anything.

    ``state`` is the bug's state *as projected by the rules before this one in the same pass*
    (Mailman-chain style), so the review rule sees the ``complete`` the completeness rule just
    concluded. ``earlier`` holds those rules' decisions by rule name.
    """

    now: datetime
    settings: Settings
    state: StateRecord
    # Bugzilla groups of the accounts the engine looked up (reporter, assignee) when orgs.groups
    # is configured; an account missing here was not looked up.
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # '#triage ...' commands from list mails about this bug, not yet consumed, oldest first.
    commands: tuple[TriageCommand, ...] = ()
    earlier: Mapping[str, tuple[Decision, ...]] = field(default_factory=dict)
    # Idempotency keys of changes already applied (sent/confirmed) for this bug.
    applied_keys: frozenset[str] = frozenset()

    @property
    def bot_accounts(self) -> frozenset[str]:
        accounts = {a.lower() for a in self.settings.general.bot_accounts}
        accounts.add(self.settings.general.bot_email.lower())
        return frozenset(accounts)

    def is_bot(self, account: str) -> bool:
        return account.lower() in self.bot_accounts

    def with_state(self, state: StateRecord,
                   earlier: Mapping[str, tuple[Decision, ...]]) -> RuleContext:
        return dataclasses.replace(self, state=state, earlier=earlier)


# --- the rule base ------------------------------------------------------------------------------


class Rule:
    """Subclass per rule, one per module in ``triage/rules/``; the registry discovers it.

    Class attributes: ``name`` (the ``[rules.<name>]`` table, the decision's ``rule``, the template
    ``<name>.j2`` and the idempotency key prefix), ``order`` (position in the chain), ``summary``
    (one line for the plan and docs), ``settings_class``.
    """

    name: ClassVar[str] = ""
    # Position in the chain, set by the registry from its one table (triage.rules.RULE_ORDER).
    order: ClassVar[int] = 1000
    summary: ClassVar[str] = ""
    settings_class: ClassVar[type[RuleSettings]] = RuleSettings

    def __init__(self, settings: RuleSettings | None = None) -> None:
        self.settings = settings if settings is not None else self.settings_class()

    @classmethod
    def from_settings(cls, settings: Settings) -> Rule:
        table = settings.rules.get(cls.name, {})
        base = settings.source.parent if settings.source else None
        return cls(parse_rule_settings(cls.name, cls.settings_class, table, base))

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    # -- the two things a rule implements --
    def applies_to(self, bug: Bug, ctx: RuleContext) -> bool:
        """Cheap selection: the engine calls :meth:`evaluate` only when this is true."""
        return True

    def evaluate(self, bug: Bug, ctx: RuleContext) -> RuleResult:
        raise NotImplementedError

    # -- helpers --
    def decision(self, bug: Bug, outcome: str, reason: str, state: TriageState | None = None,
                 **details: Any) -> Decision:
        return Decision(bug_id=bug.id, rule=self.name, outcome=outcome, reason=reason,
                        state=state, details=details)

    def key(self, bug_id: int | None, *parts: object) -> str:
        """Idempotency key ``<rule>:<bug>:<parts...>``: stable across runs by construction."""
        return ":".join([self.name, str(bug_id if bug_id is not None else "-"),
                         *(str(p) for p in parts)])

    def update(self, bug: Bug, what: str | Sequence[object], update: BugUpdate, reason: str, *,
               recipient: str | None = None, nag: bool = False) -> Change:
        parts = [what] if isinstance(what, str) else list(what)
        return Change(key=self.key(bug.id, *parts), rule=self.name, reason=reason, bug_id=bug.id,
                      update=update, recipient=recipient, nag=nag)

    def template_name(self, variant: str = "") -> str:
        return f"{self.name}{'_' + variant if variant else ''}.j2"

    def render(self, variant: str = "", **values: Any) -> str:
        return render(self.template_name(variant), **values)


# --- small helpers rules share ------------------------------------------------------------------


def needinfo(ctx: RuleContext, requestee: str) -> FlagChange:
    return FlagChange(name=ctx.settings.bugzilla.workflow.needinfo_flag, status="?",
                      requestee=requestee)


def open_needinfo_for(bug: Bug, ctx: RuleContext, person: str) -> list[FlagChange]:
    """Clears for every pending needinfo on ``person`` (by flag id, which Bugzilla needs)."""
    name = ctx.settings.bugzilla.workflow.needinfo_flag
    return [FlagChange(name=name, status="X", requestee=f.requestee, id=f.id)
            for f in bug.flags_named(name)
            if f.status == "?" and (f.requestee or "").lower() == person.lower()]
