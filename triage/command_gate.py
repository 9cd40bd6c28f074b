"""The engine's side of command authentication: the token key, and the store reads and writes
around the pure planner (:mod:`triage.commands.planner`).

Order of writes, for "nothing duplicated or lost": tokens are recorded *before* the mail that
carries them is sent (a crash in between re-sends the same HMAC token, whose row exists);
token uses and daily counts are recorded only once the mail's plan was applied, in the same
pass that marks its event consumed, so an SMTP or Bugzilla outage re-plans it unchanged.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from triage.commands.auth import make_token, token_hash
from triage.commands.confirm import AuthInputs
from triage.config import Settings
from triage.model import MailEvent
from triage.store import Store
from triage.store import command_auth as repo

KEY_FILE = "command-token.key"


def token_key(settings: Settings) -> bytes:
    """The HMAC key for confirmation tokens: ``commands.token_secret_*`` if set, else a random
    key created once in the state folder (mode 0600), so tokens survive restarts."""
    secret = settings.command_token_secret()
    if secret.is_set():
        return secret.get().encode("utf-8")
    path = Path(settings.state_dir) / KEY_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex())
    try:
        os.link(tmp, path)  # first writer wins when two processes start together
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def load_auth_inputs(store: Store, settings: Settings,
                     events: Sequence[tuple[int, MailEvent]], now: datetime) -> AuthInputs:
    key = token_key(settings)
    hashes = [token_hash(c.token) for _, e in events for c in e.commands if c.verb == "confirm"]
    with store.session() as s:
        confirmations = repo.load_confirmations(s, hashes, [e.message_id for _, e in events])
        used = repo.counts_today(s, [e.sender.strip().lower() for _, e in events], now)
    return AuthInputs(token_for=lambda message_id, sender: make_token(key, message_id, sender),
                      confirmations=confirmations, used_today=used)


def confirmed_bug_ids(auth: AuthInputs, events: Iterable[tuple[int, MailEvent]]) -> list[int]:
    """Bugs named by the commands that this pass's confirmations would carry out."""
    out: set[int] = set()
    for _, event in events:
        for cmd in event.commands:
            pending = auth.confirmations.get(token_hash(cmd.token)) if cmd.token else None
            if pending is not None:
                out |= {c.bug_id for c in pending.commands if c.bug_id > 0}
    return sorted(out)


def record_issued(store: Store, event_plans: Iterable[object]) -> None:
    records = [t for ep in event_plans for t in getattr(ep, "tokens", ())]
    if records:
        with store.session() as s:
            repo.record_tokens(s, records)


def record_applied(store: Store, event_plans: Iterable[object], applied_rows: set[int],
                   now: datetime) -> None:
    uses: dict[str, str] = {}
    counts: dict[str, int] = {}
    for ep in event_plans:
        if getattr(ep, "row_id", None) not in applied_rows:
            continue
        for digest in getattr(ep, "token_uses", ()):
            uses.setdefault(digest, ep.message_id)  # type: ignore[attr-defined]
        if getattr(ep, "counted", 0):
            sender = ep.sender  # type: ignore[attr-defined]
            counts[sender] = counts.get(sender, 0) + ep.counted  # type: ignore[attr-defined]
    if uses or counts:
        with store.session() as s:
            repo.use_tokens(s, uses, now)
            repo.add_counts(s, counts, now)
