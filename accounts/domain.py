"""Who is calling: the principal every authenticated request carries, and API key material.

Pure Python (no Django): the authentication backends build a :class:`Principal`; the apps read
its tenant to scope what the caller sees and record its actor in every event it causes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

#: The tenant of everything created while authentication is off, and of keys and tokens that
#: name none: a single-team install keeps seeing its objects once it turns authentication on.
DEFAULT_TENANT = "default"

#: What a principal may do. ``api``: the LangGraph API (assistants, threads, runs, crons, store);
#: ``worker``: the DuraGraph worker protocol (``/api/v1/workers``).
SCOPE_API = "api"
SCOPE_WORKER = "worker"
SCOPES = (SCOPE_API, SCOPE_WORKER)

#: API keys read ``dg_<prefix>_<secret>``: the prefix finds the row, the secret's digest proves it.
KEY_MARK = "dg"
PREFIX_LENGTH = 12
SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller (or the anonymous one, when authentication is off)."""

    #: Stable and unique: ``apikey:<prefix>``, ``jwt:<sub>``, ``user:<pk>``, ``anonymous``.
    identity: str
    #: The tenant whose objects it sees and under which it creates new ones.
    tenant: str = DEFAULT_TENANT
    scopes: frozenset[str] = field(default_factory=lambda: frozenset(SCOPES))
    #: How it proved itself: ``api_key``, ``jwt``, ``session``, ``custom``, ``anonymous``.
    kind: str = "anonymous"
    #: Sees every tenant's objects: authentication off, staff users, global worker keys.
    all_tenants: bool = False
    display_name: str = ""
    #: LangGraph custom auth (``kind == "custom"``): the user its ``authenticate`` handler
    #: returned (``ctx.user`` of the authorization handlers) and the permissions it granted
    #: (``ctx.permissions``). Not compared or hashed: a handler's user may be any object.
    user: Any = field(default=None, compare=False, hash=False, repr=False)
    permissions: tuple[str, ...] = ()

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"

    @property
    def tenant_scope(self) -> str | None:
        """The tenant reads are limited to; ``None`` when it sees every tenant."""
        return None if self.all_tenants else self.tenant

    def may(self, scope: str) -> bool:
        return scope in self.scopes


#: The caller when authentication is off: everything visible, new objects in the default tenant.
ANONYMOUS = Principal(identity="anonymous", all_tenants=True)


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated key: ``plaintext`` is shown once; only ``digest`` is stored."""

    prefix: str
    plaintext: str
    digest: str


def generate_key() -> NewKey:
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return NewKey(prefix=prefix, plaintext=f"{KEY_MARK}_{prefix}_{secret}", digest=digest(secret))


def digest(secret: str) -> str:
    """SHA-256 of the secret part. Keys carry 256 random bits, so a slow password hash would
    add nothing but CPU on every request."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(presented: str) -> tuple[str, str] | None:
    """``(prefix, secret)`` of a key in our format, else ``None`` (not one of ours)."""
    mark, _, rest = presented.partition("_")
    prefix, _, secret = rest.partition("_")
    if mark != KEY_MARK or len(prefix) != PREFIX_LENGTH or not secret:
        return None
    return prefix, secret


def secret_matches(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)


def prefix_of(text: str) -> str:
    """The prefix named by *text*: a whole key, ``dg_<prefix>``, ``dg_<prefix>_…`` as lists show
    it, or the bare prefix."""
    text = text.strip()
    if (parts := split_key(text)) is not None:
        return parts[0]
    mark, _, rest = text.partition("_")
    if mark == KEY_MARK and rest:
        return rest.partition("_")[0]
    return text


_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``1w2d``, ``30m``, ``45s`` or bare seconds (``3600``) as a duration;
    ``ValueError`` for anything else, or for nothing at all."""
    text = text.strip().lower()
    if text.isdigit():
        seconds = int(text)
    else:
        parts = _DURATION.findall(text)
        if not parts or _DURATION.sub("", text).strip():
            raise ValueError(f"not a duration: {text!r} (examples: 90d, 12h, 1w2d, 3600)")
        seconds = sum(int(amount) * _UNIT_SECONDS[unit] for amount, unit in parts)
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, not {text!r}")
    return timedelta(seconds=seconds)


class CredentialRefused(Exception):
    """The credential was presented but does not authenticate (unknown, revoked, expired,
    badly signed...); the message says which, for its holder. ``status``: the HTTP answer
    where one is given (401; 403 when the caller is known but may not)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status
