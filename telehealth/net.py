"""The client's network address, the same way in every part of the project.

uvicorn (`--proxy-headers`) already replaces the connection's address with the one in
`X-Forwarded-For` when the connection comes from `FORWARDED_ALLOW_IPS`; this module applies the
same rule for code that sees a request some other way (Django's test client, another server),
so that a header sent by anyone else is never believed."""

import ipaddress
import socket
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses and networks from FORWARDED_ALLOW_IPS; `*` is refused (settings check it)."""
    networks = []
    for entry in entries:
        entry = entry.strip()
        if not entry or entry.startswith("unix:"):
            continue
        networks.append(ipaddress.ip_network(entry, strict=False))
    return tuple(networks)


@lru_cache(maxsize=4)
def _trusted(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_trusted(entries)


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_address(request: HttpRequest | None) -> str | None:
    """The client's IP address, or None when there is none to tell.

    A forwarded header counts only when the peer is a trusted proxy; then the nearest address
    in it that is not itself a trusted proxy is the client (proxies append, clients can only
    prepend). This is uvicorn's rule, so applying it to an address uvicorn already resolved
    changes nothing."""
    if request is None:
        return None
    peer = _valid(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    trusted = _trusted(tuple(settings.FORWARDED_ALLOW_IPS))
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not forwarded or not _is_trusted(peer, trusted):
        return peer
    hops = [hop for hop in (_valid(part) for part in forwarded.split(",")) if hop is not None]
    if len(hops) != forwarded.count(",") + 1:
        return peer  # a malformed header is not believed at all
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0]


def is_public_address(address: str) -> bool:
    """Whether an address is on the public internet: not private, loopback, link-local,
    reserved or multicast (an IPv4-mapped IPv6 address is judged as its IPv4 address)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def addresses_of(host: str, port: int) -> list[str]:
    """Every address the host resolves to (a literal address is itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]
