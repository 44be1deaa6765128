"""The suite's guard on name resolution (tests/loopback_only.py)."""

from __future__ import annotations

import socket

import httpx2
import loopback_only
import pytest


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1", "127.8.9.10", "::1", "[::1]", "::", None, b"localhost"]
)
def test_names_of_this_machine_are_loopback(host):
    assert loopback_only.is_loopback(host)


@pytest.mark.parametrize(
    "host", ["node-b.test", "example.org", "10.0.0.1", "192.168.1.5", "::ffff:8.8.8.8", b"a.test"]
)
def test_other_names_are_not(host):
    assert not loopback_only.is_loopback(host)


def test_resolving_another_machine_is_refused_while_the_suite_runs():
    with pytest.raises(socket.gaierror, match="loopback only"):
        socket.getaddrinfo("node-b.test", 80)
    assert socket.getaddrinfo("127.0.0.1", 80)


def test_a_client_sent_to_a_node_left_unmounted_fails_to_connect_not_to_wait():
    with httpx2.Client(timeout=5) as client, pytest.raises(httpx2.ConnectError):
        client.get("http://node-b.test/federation/v1/ping")
