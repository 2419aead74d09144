"""Rate limits: a token bucket per caller and route class, shared by every server process.

- **Who**: the principal's identity (``apikey:<prefix>``, ``jwt:<sub>``, ``worker-key:0``...);
  an anonymous caller (authentication off) by its address, ``REMOTE_ADDR``, or the address
  ``RATE_LIMIT_PROXY_COUNT`` trusted proxies put in ``X-Forwarded-For``.
- **What**: three classes of route, each with its own bucket (:func:`route_class`): ``streams``
  (``stream``, ``wait`` and ``join``: a connection held until a run ends), ``reads`` (safe
  methods, and the POSTs that only query: ``search``, ``count``, ``history``, ``namespaces``)
  and ``writes`` (everything else, the worker protocol included).
- **How much**: ``"<requests>/<period> [burst]"`` per class (:func:`parse_rate`).
- **Where**: one Redis hash per bucket, updated by one Lua script (:class:`RedisBuckets`), when
  ``RATE_LIMIT_REDIS_URL`` names a Redis; else one row per bucket in an UNLOGGED PostgreSQL table,
  updated by one UPSERT (:class:`PostgresBuckets`, ``accounts/sql/ratelimit.sql``). Either way
  one round trip, atomic, on the store's clock: N server processes share each limit.
- **How often**: a round trip takes up to a *lease* of tokens (:func:`lease_size`: what the
  rate refills in ``RATE_LIMIT_LEASE_SECONDS``, 50 ms by default) that the process then spends
  without asking, for that long; what is left of it goes back to the bucket with the next round
  trip. A process that was refused refuses locally until the next token is due. :class:`Limiter`
  keeps both. Tokens leave the shared bucket before they are spent, so N processes never let
  through more than one bucket would, give or take the leases outstanding (at most N x the lease).

The arithmetic is :func:`take` and :func:`decide` (pure); the Lua script and the SQL statement
do the same. :class:`RateLimitThrottle` (DRF's ``DEFAULT_THROTTLE_CLASSES``, after
authentication) takes a token or refuses with 429 and ``Retry-After``; it leaves its
:class:`Decision` on the request, and :class:`RateLimitHeadersMiddleware` (``API_MIDDLEWARE``)
writes ``X-RateLimit-Limit/-Remaining/-Reset`` on every answer, streams included (headers go
out before the first chunk). See docs/rate-limits.md.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from asgiref.sync import markcoroutinefunction
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from prometheus_client import Counter
from rest_framework import exceptions, throttling

from accounts import domain
from duragraph_site import sqlfiles

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import redis
    from django.http import HttpRequest, HttpResponseBase
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

REFUSED = Counter(
    "duragraph_rate_limit_refused",
    "Requests refused with 429 by the rate limits, by class of route",
    ["route_class"],
)
STORE_ERRORS = Counter(
    "duragraph_rate_limit_store_errors",
    "Requests let through unlimited because the rate limits' Redis could not be reached",
)

# -- the bucket (pure) -------------------------------------------------------------------------
WRITES = "writes"
READS = "reads"
STREAMS = "streams"
CLASSES = (WRITES, READS, STREAMS)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(
    r"^\s*(?P<count>\d+)\s*/\s*(?P<multiple>\d*)\s*(?P<unit>[smhd])[a-z]*\s*(?P<burst>\d+)?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Rate:
    """A bucket of ``burst`` tokens refilled at ``per_second`` tokens a second."""

    per_second: float
    burst: int
    text: str

    def __str__(self) -> str:
        return self.text


@functools.lru_cache(maxsize=64)
def parse_rate(text: str) -> Rate:
    """``"100/s"``, ``"600/m 50"``, ``"1000/10min 200"``: *requests* per *period*, and an
    optional burst (the bucket's size), which defaults to *requests*: ``"60/m"`` allows 60 at
    once, then one a second. Periods: s, m, h, d (``sec``, ``min``, ``hour``... read the same)."""
    match = _RATE.match(text)
    if match is None:
        raise ValueError(
            f"invalid rate {text!r}: expected '<requests>/<period> [burst]', e.g. '100/s 200'"
        )
    count = int(match["count"])
    period = int(match["multiple"] or 1) * _PERIODS[match["unit"].lower()]
    burst = int(match["burst"]) if match["burst"] else count
    if count < 1 or burst < 1:
        raise ValueError(
            f"invalid rate {text!r}: <requests>/<period> [burst] needs requests and burst >= 1"
        )
    return Rate(per_second=count / period, burst=burst, text=" ".join(text.split()))


#: Tokens a bucket holds "whole" despite floating-point dust (2.9999999999 is 3).
_EPSILON = 1e-9


def take(
    tokens: float | None, elapsed: float, rate: Rate, want: int = 1, refund: int = 0
) -> tuple[int, float]:
    """Up to *want* tokens from a bucket that held *tokens* *elapsed* seconds ago (``None``: a
    new bucket, full), once *refund* unspent ones are back: ``(tokens granted, tokens left)``.
    0 granted is a refusal; the bucket keeps its refill. Never more than the burst."""
    if tokens is None:
        level = float(rate.burst)
    else:
        level = min(float(rate.burst), tokens + max(0.0, elapsed) * rate.per_second + refund)
    granted = min(want, math.floor(level + _EPSILON))
    return granted, max(0.0, level - granted)


def lease_size(rate: Rate, lease_seconds: float) -> int:
    """Tokens one round trip asks for: what *rate* refills in *lease_seconds*, at most a tenth
    of the burst and 1000, at least one. Small rates (tests, strict limits) take one at a time."""
    return max(1, min(int(rate.per_second * lease_seconds), rate.burst // 10, 1000))


@dataclass(frozen=True, slots=True)
class Decision:
    """What one request was told, as headers."""

    allowed: bool
    limit: int  #: the bucket's size: how many requests at once
    remaining: int  #: whole tokens left
    reset: int  #: seconds until the bucket is full again
    retry_after: int  #: seconds until a refused request would be allowed (0 when allowed)
    route_class: str
    rate: Rate

    def headers(self) -> tuple[tuple[str, str], ...]:
        return (
            ("X-RateLimit-Limit", str(self.limit)),
            ("X-RateLimit-Remaining", str(self.remaining)),
            ("X-RateLimit-Reset", str(self.reset)),
        )


def decide(allowed: bool, tokens: float, rate: Rate, route_class: str) -> Decision:
    """The headers' figures from a bucket's state after :func:`take` (*tokens*: what is left
    for the caller, a lease it holds included)."""
    tokens = min(float(rate.burst), max(0.0, tokens))
    missing = rate.burst - tokens
    return Decision(
        allowed=allowed,
        limit=rate.burst,
        remaining=math.floor(tokens + _EPSILON),
        reset=max(0, math.ceil(missing / rate.per_second - _EPSILON)),
        retry_after=0 if allowed else max(1, math.ceil((1 - tokens) / rate.per_second - _EPSILON)),
        route_class=route_class,
        rate=rate,
    )


#: POST routes that only query (LangGraph searches with POST bodies).
_QUERY_SEGMENTS = frozenset({"search", "count", "history", "namespaces"})
_STREAM_SEGMENTS = frozenset({"stream", "wait", "join"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@functools.lru_cache(maxsize=1024)
def route_class(method: str, route: str) -> str:
    """The class of a route (its URL pattern, e.g. ``threads/<str:thread_id>/runs/stream``)."""
    last = route.rstrip("/$").rpartition("/")[2]
    if last in _STREAM_SEGMENTS:
        return STREAMS
    if method in _SAFE_METHODS or (method == "POST" and last in _QUERY_SEGMENTS):
        return READS
    return WRITES


def client_address(remote_addr: str, forwarded_for: str, proxy_count: int) -> str:
    """The caller's address: ``REMOTE_ADDR``, or with *proxy_count* trusted proxies in front,
    the address the farthest of them saw (``X-Forwarded-For`` is appended to by each proxy, so
    only its last *proxy_count* entries are trustworthy; what a client wrote before is not)."""
    if proxy_count > 0 and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if hops:
            return hops[-min(proxy_count, len(hops))]
    return remote_addr or "unknown"


def bucket_key(route_class: str, principal: domain.Principal | None, address: str) -> str:
    if principal is not None and principal.is_authenticated:
        return f"{route_class}:{principal.identity}"
    return f"{route_class}:addr:{address}"


# -- where buckets live ------------------------------------------------------------------------
class Buckets(Protocol):
    def take(
        self, key: str, rate: Rate, want: int = 1, refund: int = 0, now: float | None = None
    ) -> tuple[int, float] | None:
        """:func:`take` on the bucket *key*, atomically, at *now* (seconds since the epoch;
        ``None``: the store's own clock, the same for every server process). ``None``: the
        store could not be reached (Redis only; PostgreSQL's errors are the request's)."""
        ...


_queries = sqlfiles.load(Path(__file__).with_name("sql") / "ratelimit.sql")


class PostgresBuckets:
    """Buckets in ``accounts_ratelimit_bucket`` (UNLOGGED: a crash resets them to full, which is
    all a lost bucket means), one UPSERT per request on the request's own connection. Rows of
    buckets full again are deleted at most once per ``prune_seconds`` per process."""

    def __init__(self, prune_seconds: float = 60.0) -> None:
        self.prune_seconds = prune_seconds
        self._next_prune = time.monotonic() + prune_seconds
        self._lock = threading.Lock()

    def take(
        self, key: str, rate: Rate, want: int = 1, refund: int = 0, now: float | None = None
    ) -> tuple[int, float]:
        with connection.cursor() as cursor:
            cursor.execute(
                _queries["take"],
                {
                    "key": key,
                    "rate": rate.per_second,
                    "burst": rate.burst,
                    "want": want,
                    "refund": refund,
                    "now": now,
                },
            )
            granted, tokens = cursor.fetchone()
            if time.monotonic() >= self._next_prune and self._lock.acquire(blocking=False):
                try:
                    self._next_prune = time.monotonic() + self.prune_seconds
                    self.prune(cursor)
                finally:
                    self._lock.release()
        return granted, tokens

    def prune(self, cursor: object | None = None) -> int:
        """Delete the buckets that are full again (a missing bucket is a full one)."""
        if cursor is None:
            with connection.cursor() as own:
                return self.prune(own)
        cursor.execute(_queries["prune"])  # type: ignore[attr-defined]
        return cursor.rowcount  # type: ignore[attr-defined]


#: The Redis side of :func:`take`: a hash {t: last update, v: tokens} per bucket, expiring once
#: full again. ARGV: rate, burst, want, now (empty: Redis' clock, TIME), refund.
TAKE_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local refund = tonumber(ARGV[5]) or 0
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 't', 'v')
local level = burst
if state[1] and state[2] then
  level = math.min(burst, tonumber(state[2]) + math.max(0, now - tonumber(state[1])) * rate + refund)
end
local granted = math.min(want, math.floor(level + 1e-9))
level = math.max(0, level - granted)
redis.call('HSET', KEYS[1], 't', string.format('%.6f', now), 'v', string.format('%.17g', level))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - level) / rate * 1000) + 1000)
return {granted, string.format('%.17g', level)}
"""


class RedisBuckets:
    """Buckets in Redis, one EVALSHA per request (redis-py's ``Script``). Redis unreachable,
    requests are let through (logged at most every 30 s) and Redis is retried after
    ``retry_seconds``: an outage of the limiter does not take the API down with it."""

    def __init__(self, url: str, prefix: str, retry_seconds: float = 1.0) -> None:
        import redis as redis_py  # only deployments that configure Redis load it

        self._errors = (redis_py.RedisError, OSError)
        self.client: redis.Redis = redis_py.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self.prefix = prefix
        self.retry_seconds = retry_seconds
        self._script = self.client.register_script(TAKE_LUA)
        self._down_until = 0.0
        self._next_warning = 0.0

    def take(
        self, key: str, rate: Rate, want: int = 1, refund: int = 0, now: float | None = None
    ) -> tuple[int, float] | None:
        if self._down_until and time.monotonic() < self._down_until:
            STORE_ERRORS.inc()
            return None
        args = [rate.per_second, rate.burst, want, "" if now is None else repr(now), refund]
        try:
            granted, tokens = self._script(keys=[self.prefix + key], args=args)
        except self._errors as error:
            STORE_ERRORS.inc()
            self._down_until = time.monotonic() + self.retry_seconds
            if time.monotonic() >= self._next_warning:
                self._next_warning = time.monotonic() + 30
                logger.warning("rate limits paused: Redis unreachable (%s)", error)
            return None
        self._down_until = 0.0
        return int(granted), float(tokens)


class _Held:
    """What this process knows of one bucket: a lease of tokens it may spend until
    ``lease_until``, or a refusal until ``refused_until``; and the shared level it last saw."""

    __slots__ = ("lease", "lease_until", "refused_until", "level", "seen_at", "asking")

    def __init__(self) -> None:
        self.lease = 0
        self.lease_until = self.refused_until = self.level = self.seen_at = 0.0
        #: One ticket per round trip of this process under way for the bucket.
        self.asking: set[object] = set()


class Limiter:
    """One token per request from a shared store, asked for in leases (module docstring)."""

    #: Entries kept before the oldest knowledge is dropped (all of it: it is only a cache).
    MAX_HELD = 10_000
    #: How long a refused round trip waits for the ones under way beside it (a bound: the
    #: store's own timeouts end a round trip sooner).
    ANSWER_WAIT_SECONDS = 1.0

    def __init__(
        self,
        store: Buckets,
        lease_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._held: dict[tuple[str, Rate], _Held] = {}
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)

    def take(self, key: str, rate: Rate) -> tuple[bool, float] | None:
        """``(allowed, tokens left for the caller)``, or ``None`` when the store is out of
        reach (let through)."""
        now = self.clock()
        with self._lock:
            if len(self._held) >= self.MAX_HELD:
                self._held.clear()  # leases go with it: tokens lost, never invented
            held = self._held.setdefault((key, rate), _Held())
            level = min(rate.burst, held.level + (now - held.seen_at) * rate.per_second)
            if held.lease > 0 and now < held.lease_until:
                held.lease -= 1
                return True, level + held.lease
            if now < held.refused_until:
                return False, level
            refund, held.lease = held.lease, 0  # an expired lease goes back
            ticket = object()
            held.asking.add(ticket)
        try:
            outcome = self.store.take(key, rate, lease_size(rate, self.lease_seconds), refund)
        except BaseException:
            with self._lock:
                held.asking.discard(ticket)
                self._answered.notify_all()
            raise
        # One critical section records the answer and says it came, so a thread woken by it
        # finds the lease.
        with self._lock:
            held.asking.discard(ticket)
            self._answered.notify_all()
            if outcome is None:
                return None
            granted, level = outcome
            if not granted and held.asking:
                # Round trips still under way may bring back leases the store granted before
                # it refused this one: wait for them (one round trip at most), then spend those.
                overlapping = set(held.asking)
                self._answered.wait_for(
                    lambda: held.lease > 0 or held.asking.isdisjoint(overlapping),
                    timeout=self.ANSWER_WAIT_SECONDS,
                )
            held.level, held.seen_at = level, now
            if granted:
                held.lease += granted - 1
                held.lease_until = now + self.lease_seconds
                held.refused_until = 0.0
                return True, level + held.lease
            if held.lease > 0 and now < held.lease_until:
                # Other threads leased what was left while this one asked: spend theirs.
                held.lease -= 1
                return True, level + held.lease
            # Refused: nothing refills the bucket before its next token is due; until then,
            # refuse here without asking.
            held.refused_until = now + (1 - level) / rate.per_second
            return False, level

    def forget(self) -> None:
        with self._lock:
            self._held.clear()


#: One limiter per configuration (tests change the settings; each gets its own).
_limiters: dict[tuple[str, str, float], Limiter] = {}


def limiter() -> Limiter:
    """This process's limiter, per the settings."""
    config = (
        settings.RATE_LIMIT_REDIS_URL,
        settings.RATE_LIMIT_KEY_PREFIX,
        settings.RATE_LIMIT_LEASE_SECONDS,
    )
    if (found := _limiters.get(config)) is None:
        store = RedisBuckets(config[0], config[1]) if config[0] else PostgresBuckets()
        found = _limiters.setdefault(config, Limiter(store, config[2]))
    return found


def forget_local_state() -> None:
    """Drop every lease and refusal this process holds (tests that empty a store call it)."""
    for known in list(_limiters.values()):
        known.forget()


def enabled() -> bool:
    """``RATE_LIMIT_ENABLED``; unset (None), it follows ``AUTH_ENABLED``."""
    on = settings.RATE_LIMIT_ENABLED
    return settings.AUTH_ENABLED if on is None else on


def configured_rates() -> dict[str, Rate]:
    """The rate of each class, from ``RATE_LIMIT_WRITES/_READS/_STREAMS``."""
    return _rates(
        settings.RATE_LIMIT_WRITES, settings.RATE_LIMIT_READS, settings.RATE_LIMIT_STREAMS
    )


@functools.lru_cache(maxsize=8)
def _rates(writes: str, reads: str, streams: str) -> dict[str, Rate]:
    """Parsed once per configuration, not on every request."""
    try:
        return {WRITES: parse_rate(writes), READS: parse_rate(reads), STREAMS: parse_rate(streams)}
    except ValueError as error:
        raise ImproperlyConfigured(f"RATE_LIMIT_*: {error}") from None


# -- the API -----------------------------------------------------------------------------------
#: The attribute of the Django request holding its :class:`Decision`.
DECISION_ATTRIBUTE = "rate_limit"


class RateLimitThrottle(throttling.BaseThrottle):
    """DRF's throttle for every API view: one token from the caller's bucket for the route's
    class, or 429 (``Throttled``: ``Retry-After`` and ``{"detail"}``). A view may name its class
    with a ``rate_limit_class`` attribute; else :func:`route_class` decides."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        if not enabled():
            return True
        match = request.resolver_match
        cls = getattr(view, "rate_limit_class", None) or route_class(
            request.method, match.route if match is not None else request.path
        )
        rate = configured_rates()[cls]
        principal = request.auth if isinstance(request.auth, domain.Principal) else None
        meta = request.META
        address = client_address(
            meta.get("REMOTE_ADDR", ""),
            meta.get("HTTP_X_FORWARDED_FOR", ""),
            settings.RATE_LIMIT_PROXY_COUNT,
        )
        outcome = limiter().take(bucket_key(cls, principal, address), rate)
        if outcome is None:  # the store is unreachable: let it through, without headers
            return True
        decision = decide(*outcome, rate, cls)
        setattr(request._request, DECISION_ATTRIBUTE, decision)
        if not decision.allowed:
            REFUSED.labels(cls).inc()
            raise exceptions.Throttled(
                wait=decision.retry_after,
                detail=f"Rate limit exceeded for {cls} ({rate.text}).",
            )
        return True


class RateLimitHeadersMiddleware:
    """``API_MIDDLEWARE``: the throttle's :class:`Decision` as ``X-RateLimit-*`` headers on the
    answer, 429s and streams included. Async-native: it only reads an attribute and sets
    headers, on the event loop. Building it checks the configured rates (a typo fails at start)."""

    async_capable = True
    sync_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]]) -> None:
        self.get_response = get_response
        configured_rates()
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)
        decision: Decision | None = request.__dict__.get(DECISION_ATTRIBUTE)
        if decision is not None:
            for name, value in decision.headers():
                response[name] = value
        return response
