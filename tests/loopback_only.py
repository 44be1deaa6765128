"""Tests reach loopback only (the project's contract): while the suite runs, a host name is
resolved only if it names this machine. Anything else is refused at once, as a name no
resolver knows, so a test that forgets to mount a node it means to be down learns so
without sending the name off this machine and waiting on the answer."""

from __future__ import annotations

import ipaddress
import socket

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

_resolve = socket.getaddrinfo


def is_loopback(host: str | bytes | None) -> bool:
    if host is None:  # a passive (listening) address: nothing leaves the machine
        return True
    name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
    name = name.strip("[]").lower().rstrip(".")
    if name in _LOOPBACK_NAMES or name.endswith(".localhost") or name == "":
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _loopback_getaddrinfo(host, *args, **kwargs):
    if not is_loopback(host):
        raise socket.gaierror(
            socket.EAI_NONAME, f"tests reach loopback only; {host!r} is not this machine"
        )
    return _resolve(host, *args, **kwargs)


def install() -> None:
    socket.getaddrinfo = _loopback_getaddrinfo
