"""Which pages may open the WebSockets: ``duragraph_site.origins.origin_allowed``."""

from __future__ import annotations

import pytest

from duragraph_site.origins import origin_allowed

TRUSTED = ["https://dashboard.example.com", "https://*.corp.example"]


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        (None, "127.0.0.1:8081"),  # not a browser
        (None, None),
        ("http://127.0.0.1:8081", "127.0.0.1:8081"),  # the server's own pages
        ("http://LOCALHOST:8081", "localhost:8081"),
        ("https://duragraph.example.com", "duragraph.example.com"),  # behind a TLS proxy
        ("https://dashboard.example.com", "api.example.com"),  # trusted, exactly
        ("https://ops.corp.example", "api.example.com"),  # trusted subdomain
        ("https://corp.example", "api.example.com"),
    ],
)
def test_allowed(origin, host):
    assert origin_allowed(origin, host, TRUSTED)


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://evil.example", "127.0.0.1:8081"),  # another site
        ("http://127.0.0.1:9999", "127.0.0.1:8081"),  # another port is another origin
        ("http://127.0.0.1", "127.0.0.1:8081"),
        ("null", "127.0.0.1:8081"),  # sandboxed iframes, file:// pages
        ("", "127.0.0.1:8081"),
        ("http://127.0.0.1:8081", None),  # no Host to compare with
        ("http://dashboard.example.com", "api.example.com"),  # trusted only over https
        ("https://evilcorp.example", "api.example.com"),  # not a subdomain
        ("https://dashboard.example.com.evil.example", "api.example.com"),
    ],
)
def test_refused(origin, host):
    assert not origin_allowed(origin, host, TRUSTED)
