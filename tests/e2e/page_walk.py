"""Walk every page a demo user can reach, as a browser would, and judge each one.

Used by the every-page test; runnable on its own against a served demo for a quick look:
`python tests/e2e/page_walk.py http://127.0.0.1:8000 coordinator lead`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

# axe-core from the npm registry, pinned by version and by the digest of its built file.
AXE_VERSION = "4.11.0"
AXE_SHA256 = "e9e5863c33a874f09bc01acd9234b7e3c871479f5eef8802fa582544465e6d01"
AXE_DIR = Path(__file__).resolve().parents[2] / ".venv" / "test-tools" / f"axe-core-{AXE_VERSION}"

DEMO_PASSWORD = "demo-portal-2026"

# Links the walk does not follow: leaving the session, files for download, the calendar
# feed, and the health checks (answers for machines, not pages). Printable pages are walked:
# a link to one that refuses the viewer is a dead end like any other.
SKIP = re.compile(
    r"^/(logout|static/|api/|calendar/|healthz$|readyz$)|\.(csv|json|ics)$"
    r"|/(signed|fhir)\.json$"
)
# Ids in paths (UUIDs, tokens, numbers) fold into one pattern: one page per pattern is enough.
ID_SEGMENT = re.compile(r"^([0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{16,}|[0-9]+|[A-Za-z0-9_-]{22,})$")


class AxeMissing(RuntimeError):
    pass


def axe_source() -> str:
    """`npm install` the pinned axe-core into .venv/test-tools once; refuse a changed file."""
    built = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
    if not built.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise AxeMissing("npm is needed once to install axe-core (apt-get install npm)")
        AXE_DIR.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(AXE_DIR),
                "--no-save",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                f"axe-core@{AXE_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if result.returncode != 0 or not built.exists():
            raise AxeMissing(f"npm install axe-core@{AXE_VERSION} failed: {result.stderr.strip()}")
    content = built.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != AXE_SHA256:
        raise AxeMissing(f"axe.min.js digest {digest} does not match the pinned {AXE_SHA256}")
    return content.decode()


def pattern_of(url: str) -> str:
    """/cases/6f1c…/summary?x=1 -> /cases/{id}/summary?x: one visit per kind of page."""
    parts = urlsplit(url)
    path = "/".join("{id}" if ID_SEGMENT.match(s) else s for s in parts.path.split("/"))
    keys = sorted({k for k, _ in parse_qsl(parts.query)} - {"page"})
    return path + ("?" + "&".join(keys) if keys else "")


@dataclass
class Finding:
    url: str
    problem: str


@dataclass
class Walk:
    visited: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def sign_in(page, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()


# How far each table's box is wider than what it shows (0: nothing hidden to the side), and
# whether its column headings are laid out as a table's (a desk) or hidden (a phone's cards).
TABLE_BOXES = """() => [...document.querySelectorAll('main table')].map(t => {
  const box = t.closest('.scroll') || t.parentElement;
  const head = t.querySelector('thead');
  return [box.scrollWidth - box.clientWidth, head ? head.getBoundingClientRect().height : 0];
})"""


def looked_at(browser, base: str, username: str, path: str, viewport: dict, *scripts) -> list:
    """What each of `scripts` answers on `path`, signed in as `username` in a window of
    `viewport`, once the page's first table is laid out."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, base, username)
        page.goto(base + path)
        page.locator("main table").first.wait_for()
        return [page.evaluate(script) for script in scripts]
    finally:
        context.close()


def assert_tables_are_cards_on_a_phone(browser, base: str, username: str, path: str) -> None:
    """Every table of `path`, as `username` sees it: at 360 px a card per row, nothing hidden
    to the side (cards-on-phone); at 1280 px a table with its headings, nothing hidden."""
    (phone,) = looked_at(browser, base, username, path, {"width": 360, "height": 800}, TABLE_BOXES)
    (desk,) = looked_at(browser, base, username, path, {"width": 1280, "height": 900}, TABLE_BOXES)
    assert phone and all(hidden <= 0 for hidden, _ in phone), (
        f"{path} at 360 px: px hidden to the side, per table: {[h for h, _ in phone]}"
    )
    assert all(hidden <= 0 and head > 0 for hidden, head in desk), (
        f"{path} at 1280 px: (px hidden, heading height) per table: {desk}"
    )


def overflow(page) -> int:
    """How far the document is wider than the viewport, in CSS pixels (0 when it reflows)."""
    return page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth"
    )


def broken_dates(page) -> list[str]:
    """Dates (2026-12-04) the page shows broken over two lines: in a narrow column a date
    broke at its hyphens, "2026-12-" over "04". Found in the text as it is laid out, whatever
    markup carries it."""
    return page.evaluate(
        """() => {
          const found = [];
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (const m of node.data.matchAll(/\\d{4}-\\d{2}-\\d{2}/g)) {
              const range = document.createRange();
              range.setStart(node, m.index);
              range.setEnd(node, m.index + m[0].length);
              const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
              if (lines.size > 1) found.push(m[0]);
            }
          }
          return found;
        }"""
    )


def axe_problems(page, source: str) -> list[str]:
    """Serious and critical violations, and every colour-contrast one, in words.

    axe files text the same colour as its background (1:1, invisible) under "incomplete",
    as if it might be hidden on purpose; a button nobody can see but Tab reaches is a
    failure here, so a measured ratio among the incomplete ones counts too.
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(source)  # evaluated by the driver: the page's strict CSP still holds
    found = page.evaluate(
        """async () => {
          const r = await axe.run(document, {resultTypes: ['violations', 'incomplete']});
          const brief = v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
            measured: v.nodes.filter(n => n.any.some(a => /contrast ratio/.test(a.message)))
              .slice(0, 3).map(n => n.target.join(' '))});
          return {violations: r.violations.map(brief), incomplete: r.incomplete.map(brief)};
        }"""
    )
    problems = [
        f"axe {v['id']} ({v['impact']}): {v['help']} at {', '.join(v['nodes'])}"
        for v in found["violations"]
        if v["impact"] in ("serious", "critical") or v["id"] == "color-contrast"
    ]
    problems += [
        f"axe {v['id']}: text as light as its background at {', '.join(v['measured'])}"
        for v in found["incomplete"]
        if v["id"] == "color-contrast" and v["measured"]
    ]
    return problems


def walk(page, base: str, *, axe: str | None, limit: int = 120) -> Walk:
    """Breadth-first over the links of every page reached from the dashboard."""
    result = Walk()
    seen: set[str] = {pattern_of("/")}
    queue = deque(["/"])
    while queue and len(result.visited) < limit:
        path = queue.popleft()
        response = page.goto(base + path)
        result.visited.append(path)
        if response is None or response.status >= 400:
            status = response.status if response else "no response"
            result.findings.append(Finding(path, f"answered {status}"))
            continue
        wider = overflow(page)
        if wider > 0:
            result.findings.append(Finding(path, f"{wider}px wider than the viewport"))
        for date in broken_dates(page)[:3]:
            result.findings.append(Finding(path, f"the date {date} is broken over two lines"))
        if axe is not None:
            result.findings.extend(Finding(path, p) for p in axe_problems(page, axe))
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            parts = urlsplit(href)
            if parts.netloc != urlsplit(base).netloc:
                continue
            local = parts.path + ("?" + parts.query if parts.query else "")
            if SKIP.search(parts.path):
                continue
            key = pattern_of(local)
            if key not in seen:
                seen.add(key)
                queue.append(local)
    return result


if __name__ == "__main__":
    import sys
    import time

    from playwright.sync_api import sync_playwright

    base, *users = sys.argv[1:]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
        )
        source = axe_source()
        for user in users:
            context = browser.new_context(viewport={"width": 360, "height": 800})
            page = context.new_page()
            sign_in(page, base, user)
            started = time.monotonic()
            result = walk(page, base, axe=source)
            print(f"== {user}: {len(result.visited)} pages in {time.monotonic() - started:.1f}s")
            print("  " + " ".join(result.visited))
            for f in result.findings:
                print(f"  {f.url}: {f.problem}")
            context.close()
        browser.close()
