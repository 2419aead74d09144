"""The token bucket's arithmetic, the rates' syntax, route classes and who a caller is (pure)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts import domain
from accounts.ratelimit import (
    READS,
    STREAMS,
    WRITES,
    Rate,
    bucket_key,
    client_address,
    decide,
    lease_size,
    parse_rate,
    route_class,
    take,
)

FIVE_A_SECOND = Rate(per_second=5.0, burst=10, text="5/s 10")


# -- rates -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "per_second", "burst"),
    [
        ("100/s", 100.0, 100),
        ("100/s 200", 100.0, 200),
        ("60/m", 1.0, 60),
        ("600/min 50", 10.0, 50),
        ("1000/10m 200", 1000 / 600, 200),
        ("3600/hour", 1.0, 3600),
        ("86400/d 10", 1.0, 10),
        (" 5 / 2s  7 ", 2.5, 7),
        ("10/S", 10.0, 10),
    ],
)
def test_rates_read_requests_per_period_and_an_optional_burst(text, per_second, burst):
    rate = parse_rate(text)
    assert rate.per_second == pytest.approx(per_second)
    assert rate.burst == burst


@pytest.mark.parametrize("text", ["", "100", "100/", "/s", "0/s", "10/s 0", "10/w", "-1/s", "x/s"])
def test_a_malformed_rate_is_refused_with_the_expected_form(text):
    with pytest.raises(ValueError, match="<requests>/<period>"):
        parse_rate(text)


# -- the bucket --------------------------------------------------------------------------------
def test_a_new_bucket_is_full_and_gives_one_token():
    assert take(None, 0.0, FIVE_A_SECOND) == (1, 9.0)


def test_a_burst_empties_the_bucket_then_requests_are_refused_without_taking():
    tokens: float | None = None
    outcomes = []
    for _ in range(12):
        allowed, tokens = take(tokens, 0.0, FIVE_A_SECOND)
        outcomes.append(allowed)
    assert outcomes == [1] * 10 + [0] * 2
    assert tokens == 0.0


def test_the_bucket_refills_at_the_rate_up_to_the_burst():
    assert take(0.0, 0.1, FIVE_A_SECOND) == (0, pytest.approx(0.5))
    assert take(0.0, 0.2, FIVE_A_SECOND) == (1, pytest.approx(0.0))
    assert take(0.0, 1.0, FIVE_A_SECOND) == (1, pytest.approx(4.0))
    assert take(3.0, 3600.0, FIVE_A_SECOND) == (1, 9.0)  # never above the burst


def test_floating_point_dust_does_not_cost_a_token():
    assert take(0.0, 0.6, FIVE_A_SECOND)[0] == 1  # 0.6 * 5.0 is 2.9999999999999996


def test_a_clock_going_backwards_refills_nothing():
    assert take(2.0, -5.0, FIVE_A_SECOND) == (1, 1.0)


def test_a_lease_takes_the_whole_tokens_there_are_up_to_what_is_asked():
    assert take(None, 0.0, FIVE_A_SECOND, want=4) == (4, 6.0)
    assert take(2.5, 0.0, FIVE_A_SECOND, want=4) == (2, pytest.approx(0.5))
    assert take(0.5, 0.0, FIVE_A_SECOND, want=4) == (0, 0.5)


def test_an_unspent_lease_comes_back_before_the_take_never_past_the_burst():
    assert take(1.0, 0.0, FIVE_A_SECOND, refund=3) == (1, 3.0)
    assert take(9.0, 0.0, FIVE_A_SECOND, refund=5) == (1, 9.0)
    assert take(None, 0.0, FIVE_A_SECOND, refund=5) == (1, 9.0)


@pytest.mark.parametrize(
    ("rate", "seconds", "expected"),
    [
        ("100/s 400", 0.05, 5),  # what 50 ms refill
        ("100/s 20", 0.05, 2),  # at most a tenth of the burst
        ("20/s 10", 0.05, 1),  # small rates: one at a time, exact
        ("3/m", 0.05, 1),
        ("1000000/s", 0.05, 1000),  # at most 1000
        ("100/s 400", 0, 1),  # leases off
    ],
)
def test_lease_sizes(rate, seconds, expected):
    assert lease_size(parse_rate(rate), seconds) == expected


@given(
    gaps=st.lists(st.floats(min_value=0, max_value=2, allow_nan=False), min_size=1, max_size=200),
    per_second=st.floats(min_value=0.1, max_value=100),
    burst=st.integers(min_value=1, max_value=50),
    want=st.integers(min_value=1, max_value=8),
)
def test_over_any_sequence_no_more_than_burst_plus_rate_times_time_get_through(
    gaps, per_second, burst, want
):
    """The token bucket's contract: in any window of T seconds at most burst + rate * T tokens
    are granted, leases or not; and the bucket never holds less than nothing nor more than its
    burst."""
    rate = Rate(per_second=per_second, burst=burst, text="")
    tokens: float | None = None
    granted_count = 0
    for gap in gaps:
        granted, tokens = take(tokens, gap, rate, want)
        granted_count += granted
        assert 0 <= granted <= want
        assert 0.0 <= tokens <= burst
    assert granted_count <= burst + per_second * sum(gaps[1:]) + 1e-6


@given(
    elapsed=st.floats(min_value=0, max_value=10, allow_nan=False),
    tokens=st.floats(min_value=0, max_value=10, allow_nan=False),
)
def test_a_refused_request_is_allowed_after_retry_after_seconds(elapsed, tokens):
    granted, left = take(tokens, elapsed, FIVE_A_SECOND)
    if granted:
        return
    decision = decide(False, left, FIVE_A_SECOND, WRITES)
    assert decision.retry_after >= 1
    assert take(left, decision.retry_after, FIVE_A_SECOND)[0]


# -- the headers' figures ----------------------------------------------------------------------
def test_an_allowed_request_tells_the_limit_the_whole_tokens_left_and_when_the_bucket_is_full():
    decision = decide(True, 7.4, FIVE_A_SECOND, READS)
    assert (decision.limit, decision.remaining, decision.reset, decision.retry_after) == (
        10,
        7,
        1,  # 2.6 tokens missing at 5 a second: 0.52 s, rounded up
        0,
    )
    assert dict(decision.headers()) == {
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": "7",
        "X-RateLimit-Reset": "1",
    }


def test_a_refused_request_tells_when_the_next_token_comes():
    slow = Rate(per_second=0.1, burst=3, text="6/m 3")
    decision = decide(False, 0.25, slow, WRITES)
    assert decision.remaining == 0
    assert decision.retry_after == 8  # 0.75 tokens at 0.1 a second: 7.5 s, rounded up
    assert decision.reset == math.ceil(2.75 / 0.1)


def test_a_full_bucket_resets_now():
    assert decide(True, 10.0, FIVE_A_SECOND, READS).reset == 0


# -- route classes -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "route", "expected"),
    [
        ("GET", "threads/<str:thread_id>", READS),
        ("HEAD", "assistants/<str:assistant_id>", READS),
        ("POST", "assistants/search", READS),
        ("POST", "threads/count", READS),
        ("POST", "threads/<str:thread_id>/history", READS),
        ("POST", "store/namespaces", READS),
        ("POST", "threads", WRITES),
        ("PATCH", "threads/<str:thread_id>", WRITES),
        ("DELETE", "threads/<str:thread_id>", WRITES),
        ("PUT", "store/items", WRITES),
        ("POST", "api/v1/workers/<str:worker_id>/poll", WRITES),
        ("POST", "api/v1/workers/<str:worker_id>/events", WRITES),
        ("POST", "threads/<str:thread_id>/runs/stream", STREAMS),
        ("GET", "threads/<str:thread_id>/runs/<str:run_id>/stream", STREAMS),
        ("GET", "threads/<str:thread_id>/stream", STREAMS),
        ("POST", "runs/wait", STREAMS),
        ("GET", "threads/<str:thread_id>/runs/<str:run_id>/join", STREAMS),
        ("GET", "api/v1/threads/<str:thread_id>/runs/<str:run_id>/join", STREAMS),
    ],
)
def test_routes_fall_in_three_classes(method, route, expected):
    assert route_class(method, route) == expected


# -- who is calling ----------------------------------------------------------------------------
def test_an_identified_caller_has_its_own_bucket_wherever_it_calls_from():
    key = domain.Principal(identity="apikey:abc123", kind="api_key")
    assert bucket_key(WRITES, key, "10.0.0.1") == bucket_key(WRITES, key, "10.0.0.2")
    assert bucket_key(WRITES, key, "10.0.0.1") == "writes:apikey:abc123"
    assert bucket_key(READS, key, "10.0.0.1") != bucket_key(WRITES, key, "10.0.0.1")


def test_an_anonymous_caller_is_limited_by_its_address():
    assert bucket_key(READS, domain.ANONYMOUS, "10.0.0.1") == "reads:addr:10.0.0.1"
    assert bucket_key(READS, None, "10.0.0.2") == "reads:addr:10.0.0.2"


def test_x_forwarded_for_is_ignored_unless_proxies_are_trusted():
    assert client_address("10.0.0.9", "1.2.3.4", 0) == "10.0.0.9"
    # One proxy: the address it appended (the last), not what the client claimed before it.
    assert client_address("10.0.0.9", "6.6.6.6, 1.2.3.4", 1) == "1.2.3.4"
    assert client_address("10.0.0.9", "6.6.6.6, 1.2.3.4, 10.0.0.8", 2) == "1.2.3.4"
    # Fewer entries than proxies: the farthest one there is.
    assert client_address("10.0.0.9", "1.2.3.4", 3) == "1.2.3.4"
    assert client_address("10.0.0.9", "", 1) == "10.0.0.9"
    assert client_address("", "", 0) == "unknown"
