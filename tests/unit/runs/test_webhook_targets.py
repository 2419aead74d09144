"""Which webhook targets are refused (``runs.webhook_targets``): every address class, IPv4 and
IPv6, addresses embedded in IPv6, the allowed-hosts override and the schemes. No database, no
network (``resolve`` is only asked about IP literals here)."""

from __future__ import annotations

import ipaddress

import pytest

from runs import webhook_targets
from runs.webhook_targets import WebhookRefused


def check(url: str, *addresses: str, allowed: tuple[str, ...] = ()) -> None:
    target = webhook_targets.parse(url)
    resolved = (
        [ipaddress.ip_address(a) for a in addresses]
        if addresses
        else list(webhook_targets.resolve(target))  # an IP literal: no DNS
    )
    webhook_targets.check(target, resolved, allowed_hosts=allowed)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),  # unique-local
        ("fd12:3456::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("239.1.2.3", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("192.0.0.192", "cloud metadata"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("0.1.2.3", "private"),  # "this network"
        # IPv4 carried in IPv6 is judged as the IPv4 address it reaches.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("64:ff9b::7f00:1", "loopback"),
    ],
)
def test_non_public_addresses_are_refused_with_their_reason(address, reason):
    assert webhook_targets.refusal(ipaddress.ip_address(address)) == reason
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(WebhookRefused, match=f"webhook: .*{reason}") as refused:
        check(f"http://{host}:8080/hook")
    assert refused.value.status_code == 422


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are_allowed(address):
    assert webhook_targets.refusal(ipaddress.ip_address(address)) is None
    host = f"[{address}]" if ":" in address else address
    check(f"https://{host}/hook")


def test_every_address_a_name_resolves_to_is_checked():
    check("https://hooks.example.com/x", "93.184.216.34", "2606:4700::1111")
    with pytest.raises(WebhookRefused, match=r"hooks.example.com \(10.0.0.7\) is a private"):
        check("https://hooks.example.com/x", "93.184.216.34", "10.0.0.7")


def test_a_name_that_resolves_to_nothing_is_left_to_send_time():
    webhook_targets.check(webhook_targets.parse("https://not-yet.example/x"), [], allowed_hosts=[])


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:9000/hook", ("127.0.0.1",)),
        ("http://LocalHost/hook", ("localhost",)),
        ("http://[::1]:9000/hook", ("[::1]",)),
        ("http://[::1]:9000/hook", ("::1",)),
        ("http://hooks.internal/x", (" other ", "hooks.internal")),
    ],
)
def test_a_listed_host_is_allowed_whatever_it_resolves_to(url, allowed):
    check(url, "127.0.0.1", "10.1.1.1", allowed=allowed)


def test_the_allowed_list_matches_hosts_exactly():
    with pytest.raises(WebhookRefused):
        check("http://evil.hooks.internal/x", "10.0.0.1", allowed=("hooks.internal",))
    with pytest.raises(WebhookRefused):
        # The list names hosts, not addresses a name resolves to.
        check("http://rebinding.example/x", "127.0.0.1", allowed=("127.0.0.1",))


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/", "ws://e.com/"]
)
def test_only_http_and_https(url):
    with pytest.raises(WebhookRefused, match="scheme .* use http or https"):
        webhook_targets.parse(url)


@pytest.mark.parametrize("url", ["http:///x", "https://:443/", "http://e.com:99999/"])
def test_a_url_without_a_usable_host_or_port_is_refused(url):
    with pytest.raises(WebhookRefused, match="webhook"):
        webhook_targets.parse(url)


def test_parse_takes_the_url_apart():
    assert webhook_targets.parse("HTTPS://Hooks.Example.COM./x") == webhook_targets.Target(
        scheme="https", host="hooks.example.com", port=443, literal=None
    )
    target = webhook_targets.parse("http://[::ffff:127.0.0.1]:81/x")
    assert (target.host, target.port) == ("::ffff:127.0.0.1", 81)
    assert target.literal == ipaddress.ip_address("::ffff:127.0.0.1")
