"""Which pages may open the WebSockets: ``duragraph_site.origins``."""

from __future__ import annotations

import pytest
from django.test import override_settings

from duragraph_site.origins import host_allowed, loopback_origins, origin_allowed

TRUSTED = ["https://dashboard.example.com", "https://*.corp.example", "http://localhost:3000"]
PATTERNS = [r"^https://[a-z]+\.preview\.example$"]
OWN = loopback_origins(("127.0.0.1", 8081))


@pytest.mark.parametrize(
    "origin",
    [
        None,  # not a browser
        "http://127.0.0.1:8081",  # the server's own pages, bound to loopback
        "http://LOCALHOST:8081",
        "http://[::1]:8081",
        "https://dashboard.example.com",  # trusted, exactly
        "https://ops.corp.example",  # trusted subdomain
        "https://corp.example",
        "http://localhost:3000",  # a trusted local app
        "https://pr.preview.example",  # by pattern
    ],
)
def test_allowed(origin):
    assert origin_allowed(origin, TRUSTED, patterns=PATTERNS, own=OWN)


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",  # another site, whatever Host it sends (DNS rebinding)
        "http://evil.example:8081",
        "http://127.0.0.1:9999",  # another port is another origin
        "http://127.0.0.1",
        "https://127.0.0.1:8081",  # another scheme is another origin
        "null",  # sandboxed iframes, file:// pages
        "",
        "http://dashboard.example.com",  # trusted only over https
        "https://evilcorp.example",  # not a subdomain
        "https://dashboard.example.com.evil.example",
        "https://pr.preview.example.evil.example",  # patterns match the whole origin
        "http://localhost:3001",
    ],
)
def test_refused(origin):
    assert not origin_allowed(origin, TRUSTED, patterns=PATTERNS, own=OWN)


def test_own_origins_only_on_loopback():
    assert loopback_origins(("127.0.0.1", 8081)) == [
        "http://localhost:8081",
        "http://127.0.0.1:8081",
        "http://[::1]:8081",
    ]
    assert loopback_origins(("::1", 9000))[0] == "http://localhost:9000"
    assert loopback_origins(("10.0.0.5", 8081)) == []  # a public interface: configure origins
    assert loopback_origins(None) == []
    # Nothing but configuration: without it, an origin equal to the Host is still refused.
    assert not origin_allowed("http://api.example.com", [], own=loopback_origins(("10.0.0.5", 80)))


@override_settings(ALLOWED_HOSTS=["localhost", "127.0.0.1", "[::1]"], DEBUG=False)
def test_host_must_be_allowed():
    assert host_allowed("127.0.0.1:8081") and host_allowed("[::1]:8081") and host_allowed(None)
    assert not host_allowed("evil.example") and not host_allowed("evil.example:8081")
    assert not host_allowed("")
