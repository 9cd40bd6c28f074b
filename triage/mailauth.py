"""Who sent a mail, as far as its headers can tell: the strict ``From`` and the
``Authentication-Results`` (RFC 8601) the receiving servers added. Pure: header values in, data
out. The policy that decides whether to believe them is :mod:`triage.commands.auth`.

Why strict: the bot acts for the Bugzilla account whose address is in ``From``, so any reading
of ``From`` that differs from what a mail client shows is a way to act as someone else. A
``From`` is accepted only when there is exactly one ``From`` header holding exactly one address
that the standard library's RFC 5322 parser (``email.policy.default``) reads without a defect;
``dev1@example.org <mallory@evil.example>`` is such a defect (an unquoted ``@`` in a display
name), and a display name that shows another address than the real one is refused too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email import policy

import authres

from triage.model import AuthResult, SenderAuth

_ADDRESS_IN_NAME = re.compile(r"[^\s<>\"'(),;:@]+@[^\s<>\"'(),;:@]+\.[^\s<>\"'(),;:@]+")
_DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
                     r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
# Bounds on what one mail may make the parser do (a header block is at most a few MB anyway).
MAX_AUTH_HEADERS = 20
MAX_AUTH_RESULTS = 50
_METHODS = frozenset({"dkim", "spf", "dmarc"})


def strict_from(values: Sequence[str]) -> tuple[str, str]:
    """``(address, "")`` for an acceptable ``From``, else ``("", why)``. ``values``: every
    ``From`` header of the mail, raw (folding undone or not)."""
    if len(values) != 1:
        return "", f"{len(values)} From headers (exactly one is accepted)"
    raw = values[0]
    if any((ord(c) < 32 and c not in "\t\r\n") or ord(c) == 127 for c in raw):
        return "", "control characters in From"
    try:
        header = policy.default.header_factory("from", raw)
    except Exception as exc:  # the stdlib parser is lenient; anything escaping it is broken input
        return "", f"unreadable From ({type(exc).__name__})"
    if header.defects:
        return "", f"From is not a valid RFC 5322 address list ({type(header.defects[0]).__name__})"
    addresses = list(header.addresses)  # type: ignore[attr-defined]
    groups = list(header.groups)  # type: ignore[attr-defined]
    if len(addresses) != 1 or any(g.display_name is not None for g in groups):
        return "", f"From names {len(addresses)} addresses (exactly one is accepted)"
    (address,) = addresses
    local, domain = address.username, address.domain.lower()
    if not local or not _LOCAL.match(local) or not _DOMAIN.match(domain):
        return "", "From address is not a plain user@domain address"
    spec = f"{local}@{domain}".lower()
    for shown in _ADDRESS_IN_NAME.findall(address.display_name or ""):
        if shown.lower() != spec:
            return "", "the display name of From shows another address than the real one"
    return spec, ""


def _result_domain(result: object) -> str:
    method = getattr(result, "method", "")
    props = {(p.type, p.name): str(p.value or "") for p in getattr(result, "properties", ())}
    if method == "dkim":
        value = props.get(("header", "d")) or props.get(("header", "i"), "").rpartition("@")[2]
    elif method == "spf":
        value = (props.get(("smtp", "mailfrom")) or "").rpartition("@")[2] or \
            props.get(("smtp", "helo"), "")
    else:
        value = props.get(("header", "from"), "").rpartition("@")[2]
    return value.strip().strip(".").lower()[:253]


def authentication_results(values: Sequence[str]) -> tuple[AuthResult, ...]:
    """The DKIM, SPF and DMARC results of every ``Authentication-Results`` header, topmost
    (added last, by the server nearest to us) first. Unparseable headers are skipped: they
    cannot vouch for anything."""
    out: list[AuthResult] = []
    seen: set[str] = set()
    for raw in values[:MAX_AUTH_HEADERS]:
        text = " ".join(raw.split())
        if len(text) > 8192:
            continue
        try:
            parsed = authres.AuthenticationResultsHeader.parse_value(text)
            results = list(parsed.results)
            server = str(parsed.authserv_id or "").strip().lower()
        except Exception:  # noqa: S112 - authres raises its own SyntaxError and friends
            continue
        if server in seen:
            # A receiving server adds its header on top: one further down with the same id
            # was in the mail before it arrived, i.e. written by the sender (RFC 8601 §5).
            continue
        seen.add(server)
        for result in results:
            method = str(getattr(result, "method", "") or "").lower()
            if method not in _METHODS or not server:
                continue
            out.append(AuthResult(authserv_id=server[:255], method=method,
                                  result=str(getattr(result, "result", "") or "").lower()[:32],
                                  domain=_result_domain(result)))
            if len(out) >= MAX_AUTH_RESULTS:
                return tuple(out)
    return tuple(out)


def sender_auth(from_values: Sequence[str], auth_values: Sequence[str]) -> SenderAuth:
    address, problem = strict_from(from_values)
    return SenderAuth(address=address, problem=problem,
                      results=authentication_results(auth_values))
