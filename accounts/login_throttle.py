"""Password guessing against the admin login is throttled per user name and client address.

:class:`ThrottledModelBackend` is Django's ``ModelBackend`` (``AUTHENTICATION_BACKENDS``) that
counts the failed logins of each (user name, address) pair: after ``LOGIN_FAILURE_LIMIT``
failures (5) within ``LOGIN_FAILURE_WINDOW_SECONDS`` (15 minutes), the pair is locked for
``LOGIN_LOCKOUT_SECONDS`` (15 minutes): every attempt, with the right password too, is refused
without checking it, by a :class:`~django.core.exceptions.ValidationError` that the login form
(the admin's, any ``AuthenticationForm``) shows as its error, with the minutes left. A
successful login clears the pair's count. Other addresses keep logging in to the same account
(an attacker cannot lock the owner out from elsewhere), and one address guessing many names
meets the limit for each of them.

The counts live in Django's cache (``CACHES``; ``CACHE_URL``): each process's memory by
default, a shared Redis when several server processes must share them. The client address is
the connection's (``REMOTE_ADDR``); behind a proxy run daphne with ``--proxy-headers`` so it is
the client's, not the proxy's.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest

logger = logging.getLogger(__name__)

CODE = "login_throttled"


def _key(kind: str, username: str, address: str) -> str:
    pair = hashlib.sha256(f"{username.casefold()}\0{address}".encode()).hexdigest()
    return f"duragraph:login:{kind}:{pair}"


def address_of(request: HttpRequest | None) -> str:
    return (request.META.get("REMOTE_ADDR") if request is not None else None) or "-"


def locked_for(username: str, address: str) -> float:
    """Seconds the pair stays locked (0: not locked)."""
    until = cache.get(_key("lock", username, address))
    return max(0.0, until - time.time()) if until else 0.0


def record_failure(username: str, address: str) -> float:
    """Count a failed login; returns the lockout it started (0: none yet)."""
    failures = _key("failures", username, address)
    cache.add(failures, 0, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)  # window opens
    try:
        count = cache.incr(failures)
    except ValueError:  # expired between add and incr: a new window
        cache.set(failures, count := 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    if count < settings.LOGIN_FAILURE_LIMIT:
        return 0.0
    lockout = float(settings.LOGIN_LOCKOUT_SECONDS)
    cache.set(_key("lock", username, address), time.time() + lockout, timeout=round(lockout))
    cache.delete(failures)
    logger.warning(
        "Login locked for %s from %s for %ds after %d failures",
        username,
        address,
        lockout,
        count,
    )
    return lockout


def clear(username: str, address: str) -> None:
    cache.delete_many([_key("failures", username, address), _key("lock", username, address)])


def refusal(seconds: float) -> ValidationError:
    minutes = max(1, math.ceil(seconds / 60))
    return ValidationError(
        "Too many failed login attempts for this account from your address. "
        "Try again in %(minutes)d minute(s).",
        code=CODE,
        params={"minutes": minutes},
    )


class ThrottledModelBackend(ModelBackend):
    """``ModelBackend`` with the throttle in front (see the module docstring)."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        address = address_of(request)
        if remaining := locked_for(username, address):
            raise refusal(remaining)  # before any password check: guessing is pointless
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            if lockout := record_failure(username, address):
                raise refusal(lockout)
            return None
        clear(username, address)
        return user

    async def aauthenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """``django.contrib.auth.aauthenticate``: the same throttle (``ModelBackend``'s own
        async version would skip it)."""
        return await sync_to_async(self.authenticate)(
            request, username=username, password=password, **kwargs
        )
