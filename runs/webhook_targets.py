"""Where a run's webhook may be sent: the decision, pure, plus the one DNS look-up it needs.

A webhook is a URL the caller chooses and the server POSTs to, so without a check it is a
server-side request forgery: ``http://169.254.169.254/...`` reads the cloud's instance metadata,
``http://127.0.0.1:5432`` reaches what listens on the server's loopback. The rule (docs/webhooks.md):

- only ``http`` and ``https``;
- every address the host stands for (the IP literal, or all of what its name resolves to) must be
  globally routable: no loopback, private (RFC 1918, unique-local), link-local, multicast,
  unspecified, reserved or cloud-metadata address, nor one of those embedded in an IPv6 address
  (IPv4-mapped ``::ffff:127.0.0.1``, 6to4, NAT64);
- unless the host is listed, exactly, in ``WEBHOOK_ALLOWED_HOSTS``.

Everything here but :func:`resolve` is pure: the callers (the run-creation serializer, and
``runs.webhooks`` at send time) resolve, then ask :func:`check`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from duragraph_site.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = ("http", "https")
#: Instance-metadata endpoints of the clouds (AWS IPv4 and IPv6, GCP and Azure share the
#: first; Alibaba; Oracle). Most already fall in a refused class; naming them keeps the
#: refusal's reason clear and does not depend on the Python version's tables.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
#: NAT64's well-known prefix (RFC 6052): ``64:ff9b::7f00:1`` reaches 127.0.0.1 through a NAT64.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class WebhookRefused(InvalidInput):
    """The webhook's URL is not an allowed target."""

    code = "webhook_refused"


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart: what to resolve and where to connect."""

    scheme: str
    #: Lower-case, without the brackets of an IPv6 literal.
    host: str
    port: int
    #: The host as an address when the URL names one, else None (a name to resolve).
    literal: IPAddress | None


def parse(url: str) -> Target:
    """Take a webhook URL apart.

    Raises:
        WebhookRefused: not ``http``/``https``, no host, or an invalid port.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise WebhookRefused(f"webhook: invalid URL ({error}).") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise WebhookRefused(f"webhook: the scheme {scheme!r} is not allowed; use http or https.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookRefused("webhook: the URL names no host.")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    return Target(
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        literal=literal,
    )


def refusal(address: IPAddress) -> str | None:
    """Why *address* may not be a webhook's peer (``"loopback"``, ...), or None if it may."""
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address carried inside an IPv6 one is judged as the IPv4 address it reaches.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal(embedded)
    for reason, refused in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        # What no property above names but is still not on the internet (100.64.0.0/10, ...).
        ("not globally routable", not address.is_global),
    ):
        if refused:
            return reason
    return None


def host_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Whether *host* is listed, exactly (case and an IPv6 literal's brackets aside)."""
    host = host.lower()
    return any(host == entry.strip().strip("[]").lower().rstrip(".") for entry in allowed_hosts)


def check(target: Target, addresses: Iterable[IPAddress], *, allowed_hosts: Iterable[str]) -> None:
    """Refuse *target* unless its host is allowed or every one of *addresses* may be a peer.

    *addresses* are what the host stands for: its literal, or every address its name resolved
    to. None at all is allowed (a name that does not resolve yet: send time checks again).

    Raises:
        WebhookRefused: naming the host, the address and the reason.
    """
    if host_allowed(target.host, allowed_hosts):
        return
    for address in addresses:
        if reason := refusal(address):
            shown = target.host if str(address) == target.host else f"{target.host} ({address})"
            raise WebhookRefused(
                f"webhook: {shown} is a {reason} address; webhooks may only call public "
                "addresses, unless the host is listed in WEBHOOK_ALLOWED_HOSTS."
            )


def resolve(target: Target) -> tuple[IPAddress, ...]:
    """Every address *target*'s host stands for, in ``getaddrinfo``'s order (the I/O here).

    Raises:
        OSError: (``socket.gaierror``) the name does not resolve.
    """
    if target.literal is not None:
        return (target.literal,)
    infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 sockaddr's host may carry a scope ("fe80::1%eth0"): judge the address.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return tuple(addresses)
