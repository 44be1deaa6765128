"""`portal bench federation`: the case summary with its six owners on three nodes (issue 16).

Three `portal serve` processes on loopback ports, each its own SQLite database and keys
(the federated demo's split: two agencies per node), and one more process with all six
agencies on one node. The same case summary page is fetched from each, by the same kind
of viewer (the child-welfare case manager), with the page's budget high enough that every
owner is decided in the page: median and p95, and their ratio. Then signature checks per
second: the whole acceptance of a signed request (parse, signature base, Ed25519, digest)
against bare PyNaCl verifies of the same signature base. Scratch folders only.
"""

from __future__ import annotations

import re
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx2
from nacl.signing import SigningKey

from portal.bench.percentiles import percentile
from portal.db import unit_of_work
from portal.demo import federated
from portal.demo.logins import DEMO_PASSWORD
from portal.federation import signatures as sig
from portal.federation.signatures import Message
from portal.models import MdtCase

ENV = {"PORTAL_SUMMARY_BUDGET_MS": "60000", "PORTAL_FEDERATION_TIMEOUT_MS": "5000"}


def _ports(count: int) -> list[int]:
    held = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        held.append(s)
    ports = [s.getsockname()[1] for s in held]
    for s in held:
        s.close()
    return ports


def _signed_in(url: str, username: str) -> httpx2.Client:
    browser = httpx2.Client(base_url=url, timeout=30, follow_redirects=False)
    page = browser.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = browser.post(
        "/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"could not sign in as {username} at {url}")
    return browser


def _case_id(node, reference: str) -> str:
    engine = node.engine()
    with unit_of_work(engine) as db:
        found = db.exec(select_case(reference)).one()
    engine.dispose()
    return found


def select_case(reference: str):
    from sqlmodel import select

    return select(MdtCase.public_id).where(MdtCase.reference == reference)


def _time_page(url: str, path: str, *, runs: int, warmup: int) -> list[float]:
    browser = _signed_in(url, "casemanager")
    try:
        for _ in range(warmup):
            page = browser.get(path)
            if page.status_code != 200 or "Unavailable from" in page.text:
                raise RuntimeError(f"the summary at {url} is not whole ({page.status_code})")
            if 'data-deferred="true"' in page.text:
                raise RuntimeError("an owner's block was left to load on its own")
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            page = browser.get(path)
            timings.append((time.perf_counter() - started) * 1000)
            if page.status_code != 200:
                raise RuntimeError(f"the summary answered {page.status_code}")
        return timings
    finally:
        browser.close()


def verify_rate(seconds: float = 1.0) -> tuple[float, float]:
    """Signed requests accepted per second, and bare PyNaCl verifies per second."""
    key = SigningKey.generate()
    body = b'{"case": "MDT-2026-7KQ4XH", "sections": null}'
    target = "http://127.0.0.1:8102/federation/v1/disclosures"
    headers = {"Content-Type": "application/json", "Content-Digest": sig.content_digest(body)}
    signed = sig.sign(
        Message.request_of("POST", target, headers),
        components=sig.REQUEST_COMPONENTS,
        key_id="bench:0001",
        signing_key=key,
        created=int(time.time()),
        nonce="bench-nonce",
    )
    headers.update(signed.headers())
    message = Message.request_of("POST", target, headers)
    verified = sig.verify(message, lambda _k: key.verify_key, required=sig.REQUEST_COMPONENTS)
    assert verified.key_id == "bench:0001"
    member = sig.parse_dictionary(headers["Signature-Input"])["sig1"]
    base = sig.signature_base(message, member.value, member.raw)
    raw_signature = sig.parse_dictionary(headers["Signature"])["sig1"].value
    verify_key = key.verify_key

    def rate(work) -> float:
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            for _ in range(100):
                work()
            count += 100
        return count / (time.perf_counter() - started)

    ours = rate(
        lambda: sig.accept(
            Message.request_of("POST", target, headers),
            body,
            lambda _k: verify_key,
            now=time.time(),
            window_seconds=60,
            required=sig.REQUEST_COMPONENTS,
        )
    )
    bare = rate(lambda: verify_key.verify(base, raw_signature))
    return ours, bare


def run(*, runs: int = 50, warmup: int = 5, directory: Path | None = None) -> dict:
    folder = Path(directory or tempfile.mkdtemp(prefix="portal-bench-federation-"))
    ports = _ports(4)
    nodes = federated.plan(folder / "three", ports=tuple(ports[:3]))
    single = federated.FederatedNode(
        "single",
        f"http://127.0.0.1:{ports[3]}",
        folder / "one",
        tuple(key for keys in federated.SPLIT for key in keys),
    )
    print(f"preparing: three nodes and one node in {folder} (synthetic data only)")
    three = federated.prepare(nodes, cases_count=1)
    one = federated.prepare([single], cases_count=1)
    started = [*nodes, single]
    try:
        for node in started:
            federated.start(node, log=node.directory / f"{node.name}.log", **ENV)
        for node in started:
            federated.wait_until_serving(node, seconds=90)
        federated.link(three)
        viewer_node = nodes[1]  # child welfare's node: its case manager reads the summary
        federated_path = f"/cases/{_case_id(viewer_node, three.references[0])}/summary"
        single_path = f"/cases/{_case_id(single, one.references[0])}/summary"
        spread = _time_page(viewer_node.url, federated_path, runs=runs, warmup=warmup)
        alone = _time_page(single.url, single_path, runs=runs, warmup=warmup)
    finally:
        for node in started:
            federated.stop(node)
    ours, bare = verify_rate()
    figures = {
        "federated_median_ms": statistics.median(spread),
        "federated_p95_ms": percentile(spread, 0.95),
        "single_median_ms": statistics.median(alone),
        "single_p95_ms": percentile(alone, 0.95),
        "signed_requests_accepted_per_s": ours,
        "bare_pynacl_verifies_per_s": bare,
    }
    figures["ratio_median"] = figures["federated_median_ms"] / figures["single_median_ms"]
    figures["ratio_p95"] = figures["federated_p95_ms"] / figures["single_p95_ms"]
    print(
        f"case summary, 6 owners on 3 nodes over loopback (SQLite, {runs} runs after "
        f"{warmup} warm-up):\n"
        f"  federated: median {figures['federated_median_ms']:.1f} ms, "
        f"p95 {figures['federated_p95_ms']:.1f} ms\n"
        f"  one node:  median {figures['single_median_ms']:.1f} ms, "
        f"p95 {figures['single_p95_ms']:.1f} ms\n"
        f"  ratio: median x{figures['ratio_median']:.2f}, p95 x{figures['ratio_p95']:.2f} "
        "(target under x2; p95 under 300 ms)\n"
        f"signatures: {ours:,.0f} signed requests accepted/s (parse, base, Ed25519, digest) "
        f"against {bare:,.0f} bare PyNaCl verifies/s (x{bare / ours:.2f})"
    )
    return figures
