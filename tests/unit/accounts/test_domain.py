"""accounts.domain alone: the API key format, its parts, its digest, durations, principals."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest

from accounts import domain

KEY_FORMAT = re.compile(r"^dg_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")


def test_a_generated_key_reads_dg_prefix_secret_and_stores_only_the_secrets_digest():
    new = domain.generate_key()
    assert KEY_FORMAT.match(new.plaintext), new.plaintext
    prefix, secret = domain.split_key(new.plaintext)
    assert prefix == new.prefix and len(prefix) == domain.PREFIX_LENGTH
    assert new.plaintext == f"dg_{prefix}_{secret}"
    assert new.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in new.digest and new.plaintext not in new.digest


def test_generated_keys_differ():
    keys = [domain.generate_key() for _ in range(200)]
    assert len({key.prefix for key in keys}) == 200
    assert len({key.plaintext for key in keys}) == 200


def test_the_secret_may_contain_underscores_it_is_everything_after_the_prefix():
    assert domain.split_key("dg_0123456789ab_se_cr_et") == ("0123456789ab", "se_cr_et")


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "dg_",
        "dg_0123456789ab",  # no secret
        "dg_0123456789ab_",  # empty secret
        "dg_0123456789a_secret",  # prefix too short
        "dg_0123456789abc_secret",  # prefix too long
        "xx_0123456789ab_secret",  # not our mark
        "DG_0123456789ab_secret",
        "eyJhbGciOiJIUzI1NiJ9.e30.sig",  # a JWT
        "some-static-worker-key",
    ],
)
def test_anything_else_is_not_one_of_our_keys(presented):
    assert domain.split_key(presented) is None


def test_the_secret_matches_its_digest_only():
    new = domain.generate_key()
    _, secret = domain.split_key(new.plaintext)
    assert domain.secret_matches(secret, new.digest)
    assert not domain.secret_matches(secret + "x", new.digest)
    assert not domain.secret_matches(secret[:-1], new.digest)
    assert not domain.secret_matches(secret, domain.generate_key().digest)


@pytest.mark.parametrize(
    "text",
    [
        "0123456789ab",
        "dg_0123456789ab",
        "dg_0123456789ab_…",
        "dg_0123456789ab_secret",
        " 0123456789ab ",
    ],
)
def test_a_key_is_named_by_its_prefix_whatever_part_of_it_is_given(text):
    assert domain.prefix_of(text) == "0123456789ab"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3600", timedelta(hours=1)),
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("90d", timedelta(days=90)),
        ("1w2d", timedelta(days=9)),
        ("1d 12h", timedelta(hours=36)),
        ("2W", timedelta(weeks=2)),
    ],
)
def test_durations(text, expected):
    assert domain.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "d", "90x", "ninety days", "-5d", "0", "0d", "12h garbage"])
def test_what_is_not_a_positive_duration_is_refused(text):
    with pytest.raises(ValueError):
        domain.parse_duration(text)


def test_the_anonymous_principal_sees_everything_and_creates_in_the_default_tenant():
    assert not domain.ANONYMOUS.is_authenticated
    assert domain.ANONYMOUS.tenant_scope is None
    assert domain.ANONYMOUS.tenant == domain.DEFAULT_TENANT
    assert domain.ANONYMOUS.may(domain.SCOPE_API) and domain.ANONYMOUS.may(domain.SCOPE_WORKER)


def test_a_principal_of_one_tenant_is_scoped_to_it_and_may_only_its_scopes():
    worker = domain.Principal(
        identity="apikey:0123456789ab",
        tenant="acme",
        scopes=frozenset({domain.SCOPE_WORKER}),
        kind="api_key",
    )
    assert worker.is_authenticated and worker.tenant_scope == "acme"
    assert worker.may(domain.SCOPE_WORKER) and not worker.may(domain.SCOPE_API)
