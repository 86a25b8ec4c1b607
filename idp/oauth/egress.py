"""Where the IdP may send requests of its own (a client's ``jwks_uri``, its
back-channel logout URI): only to public addresses, unless the IdP itself runs
on loopback (development), so that a registered URL cannot aim the IdP at its
own network (SSRF). The connection resolves the name again, so a rebinding DNS
server could still switch addresses in between: an egress proxy that enforces
the same rule is the full answer."""

import ipaddress
import socket
from urllib.parse import urlsplit


def destination_problem(uri):
    """Why the IdP must not send a request to ``uri``, or None."""
    host = urlsplit(uri).hostname
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError, ValueError):
        return f"{uri}: the host does not resolve"
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            return f"{uri}: {address} is not a public address"
    return None


def literal_problem(host):
    """Why a host written as an IP address cannot be registered, or None
    (names are checked when a request is sent)."""
    try:
        address = ipaddress.ip_address((host or "").strip("[]").split("%")[0])
    except ValueError:
        return None
    return None if address.is_global else f"{address} is not a public address"
