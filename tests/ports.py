"""Ports on 127.0.0.1 for the servers the tests start, and for ports nothing listens on.

A port taken by `bind(("127.0.0.1", 0))` and let go comes from the kernel's ephemeral
range, where every outgoing connection takes its own port too: with the suite's workers
(./ops/test) opening connections all the time, one could take the port before the server
the test starts binds it, or start listening on a port a test expects closed. These come
from below that range, from a band of the ports for each pytest-xdist worker, so two
workers never pick the same one; each is checked free before it is given out."""

from __future__ import annotations

import os
import random
import socket

_LOWEST = 10_000  # above the well-known and most registered services' ports
_BANDS = 16  # workers that can run at once, each picking from its own band
_EPHEMERAL_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"


def _ephemeral_start() -> int:
    try:
        with open(_EPHEMERAL_RANGE) as found:
            return int(found.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _band() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) % _BANDS if worker.isdigit() else 0
    width = (_ephemeral_start() - _LOWEST) // _BANDS
    return range(_LOWEST + index * width, _LOWEST + (index + 1) * width)


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> tuple[int, ...]:
    """`count` different ports on 127.0.0.1 that nothing holds, from this worker's band."""
    band = list(_band())
    # Shuffled by the system's randomness: two runs of the suite at once (a developer's and
    # CI's on one machine) seldom try the same ports in the same order.
    random.SystemRandom().shuffle(band)
    ports = []
    for port in band:
        if _is_free(port):
            ports.append(port)
            if len(ports) == count:
                return tuple(ports)
    raise RuntimeError(f"fewer than {count} free ports in {band[0]}-{band[-1]}")


def free_port() -> int:
    """One port on 127.0.0.1 that nothing holds (for a server, or to find nothing there)."""
    (port,) = free_ports(1)
    return port
