"""Sender authentication of ``#triage`` command mails: the policy (pure).

The evidence is read at ingest (:mod:`triage.mailauth`): the strictly parsed ``From`` and the
``Authentication-Results`` the receiving servers added. This module decides, under
``[commands]``:

- ``verified``: a server named in ``commands.authserv_ids`` reports ``dkim=pass`` for a domain
  aligned with the ``From`` domain (RFC 7489 §3.1.1: relaxed alignment compares organisational
  domains, found with the Public Suffix List that ``publicsuffixlist`` bundles; strict compares
  the domains themselves). Results from any other server are ignored: anyone can write an
  ``Authentication-Results`` header into the mail they send.
- ``refused``: ``From`` is not one plain address; or a trusted server reports an aligned DKIM,
  SPF or DMARC *failure* (a forgery, not a domain that does not sign); or the policy is
  ``dkim`` and nothing aligned passed.
- ``confirm``: nothing aligned passed and nothing failed (the domain does not sign): the
  account is mailed a one-time token and the commands wait for its reply.

A refusal is never mailed to the sender: the address in ``From`` is exactly what was not
verified, so a reply would be backscatter to whoever was impersonated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

from triage.config import CommandSettings
from triage.model import AuthResult, SenderAuth

VERIFIED = "verified"
CONFIRM = "confirm"
REFUSED = "refused"
_FAILED = frozenset({"fail", "permerror", "policy"})
_SPF_FAILED = frozenset({"fail", "permerror"})


@dataclass(frozen=True)
class Verdict:
    status: str  # verified | confirm | refused
    reason: str
    address: str = ""


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()  # the list bundled with the package: no network


@lru_cache(maxsize=4096)
def organisational_domain(domain: str) -> str:
    """``lists.xen.example.co.uk`` → ``example.co.uk`` (RFC 7489 §3.2); ``""`` for a public
    suffix itself, which aligns with nothing."""
    domain = domain.strip(".").lower()
    if not domain:
        return ""
    return _psl().privatesuffix(domain) or ""


def aligned(domain: str, from_domain: str, mode: str = "relaxed") -> bool:
    domain, from_domain = domain.strip(".").lower(), from_domain.strip(".").lower()
    if not domain or not from_domain:
        return False
    if mode == "strict":
        return domain == from_domain
    org = organisational_domain(domain)
    return bool(org) and org == organisational_domain(from_domain)


def _trusted(results: tuple[AuthResult, ...], cfg: CommandSettings) -> list[AuthResult]:
    servers = {s.strip().lower() for s in cfg.authserv_ids if s.strip()}
    return [r for r in results if r.authserv_id in servers]


def authenticate(auth: SenderAuth | None, cfg: CommandSettings) -> Verdict:
    if auth is None:
        return Verdict(REFUSED, "the mail was stored before commands were authenticated; "
                                "send the command again")
    if not auth.address:
        return Verdict(REFUSED, f"the From header is not acceptable: {auth.problem}")
    address = auth.address
    from_domain = address.rpartition("@")[2]
    if cfg.require == "from-header":
        return Verdict(VERIFIED, "From header trusted as is (commands.require = from-header)",
                       address)
    trusted = _trusted(auth.results, cfg)
    for r in trusted:
        if r.method == "dkim" and r.result == "pass" and aligned(r.domain, from_domain,
                                                                 cfg.alignment):
            return Verdict(VERIFIED, f"DKIM signature of {r.domain} verified by "
                                     f"{r.authserv_id}", address)
    for r in trusted:
        failed = _SPF_FAILED if r.method == "spf" else _FAILED
        about_from = (r.domain in ("", from_domain) if r.method == "dmarc"
                      else aligned(r.domain, from_domain, cfg.alignment))
        if r.result in failed and about_from:
            return Verdict(REFUSED, f"{r.authserv_id} reports {r.method}={r.result} for "
                                    f"{r.domain or from_domain}: the From address is forged")
    where = ", ".join(sorted({s.lower() for s in cfg.authserv_ids})) or \
        "none configured in commands.authserv_ids"
    missing = (f"no DKIM signature aligned with {from_domain} was verified by a trusted "
               f"receiving server ({where})")
    if cfg.require == "dkim":
        return Verdict(REFUSED, missing, address)
    return Verdict(CONFIRM, missing, address)


def make_token(key: bytes, message_id: str, sender: str) -> str:
    """The confirmation token for one command mail and account: 26 base32 characters (130 bits)
    of an HMAC, so a re-plan after a crash mails the same token and the store keeps only its
    hash (:func:`token_hash`)."""
    mac = hmac.new(key, f"v1\n{message_id}\n{sender}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode("ascii")[:26]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.strip().upper().encode("ascii", "replace")).hexdigest()
