"""htmx, installed from the npm registry at set-up and served by the node itself."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

HTMX_VERSION = "2.0.8"
# Pinned digest of dist/htmx.min.js: a changed file from the registry is refused.
HTMX_SHA256 = "22283ef68cb7545914f0a88a1bdedc7256a703d1d580c1d255217d0a50d31313"
VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
HTMX_PATH = VENDOR_DIR / "htmx.min.js"


class AssetError(RuntimeError):
    pass


def htmx_present() -> bool:
    return HTMX_PATH.exists() and _digest(HTMX_PATH.read_bytes()) == HTMX_SHA256


def fetch_htmx() -> Path:
    """`npm pack` the pinned htmx.org release and copy its minified file into static/."""
    if htmx_present():
        return HTMX_PATH
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(
            "npm is needed once, to fetch htmx from the npm registry; install "
            "Node.js (Debian: apt-get install npm) and run `portal assets` again."
        )
    with tempfile.TemporaryDirectory() as work:
        result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [npm, "pack", f"htmx.org@{HTMX_VERSION}", "--silent", "--pack-destination", work],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if result.returncode != 0:
            raise AssetError(f"npm pack htmx.org@{HTMX_VERSION} failed: {result.stderr.strip()}")
        tarball = next(Path(work).glob("htmx.org-*.tgz"))
        with tarfile.open(tarball) as archive:
            member = archive.extractfile("package/dist/htmx.min.js")
            if member is None:
                raise AssetError("the htmx package has no dist/htmx.min.js")
            content = io.BytesIO(member.read()).getvalue()
    digest = _digest(content)
    if digest != HTMX_SHA256:
        raise AssetError(f"htmx.min.js digest {digest} does not match the pinned {HTMX_SHA256}")
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    HTMX_PATH.write_bytes(content)
    return HTMX_PATH


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
