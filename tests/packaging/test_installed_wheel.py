"""A wheel of the portal works away from the checkout: it carries its templates, policies
and migrations, migrates a scratch database and renders a page.

Everything stays on this machine: the wheel is built with the test environment's own
setuptools (no build isolation), and the fresh virtualenv borrows the test environment's
installed dependencies through a .pth file, so nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parents[2]
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.db", "*.db-*", ".portal-*"
)

RENDER_LOGIN = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import portal
    from portal import resources
    from portal.app import create_app
    from portal.disclosure import policy
    from portal.sections import catalogue
    from portal.settings import from_environment
    from starlette.testclient import TestClient

    installed = Path(portal.__file__).resolve().parent
    assert installed.is_relative_to(Path(sys.argv[1])), installed
    for directory in (resources.TEMPLATES_DIR, resources.POLICIES_DIR, resources.MIGRATIONS_DIR):
        assert directory.resolve().is_relative_to(installed), directory
    assert "[matchers]" in policy.MODEL_PATH.read_text()
    assert catalogue().sections
    with TestClient(create_app(from_environment(cookie_secure=False))) as client:
        page = client.get("/login")
    assert page.status_code == 200, page.status_code
    assert 'name="username"' in page.text
    print("rendered /login from", installed)
    """
)


def _run(*command: str | Path, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_a_wheel_installed_elsewhere_migrates_and_renders(tmp_path):
    source = tmp_path / "source"  # built from a copy: the build writes build/ and egg-info
    shutil.copytree(CHECKOUT, source, symlinks=True, ignore=NOT_SOURCE)
    here = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    here.pop("PYTHONPATH", None)
    pip = (sys.executable, "-m", "pip")
    _run(*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist",
         source, cwd=tmp_path, env=here)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("mdt_portal-*.whl")

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path, env=here)
    python = venv / "bin" / "python"
    venv_site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                          cwd=tmp_path, env=here).strip())  # fmt: skip
    # After the venv's own site-packages, so the installed wheel is the `portal` found.
    (venv_site / "test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run(*pip, "--python", python, "install", "--quiet", "--no-deps", wheel, cwd=tmp_path, env=here)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        **here,
        "DATABASE_URL": f"sqlite:///{elsewhere / 'scratch.db'}",
        "PORTAL_SECRETS_FILE": str(elsewhere / "secrets.json"),
    }
    upgraded = _run(venv / "bin" / "portal", "db", "upgrade", cwd=elsewhere, env=env)
    assert upgraded.splitlines()[-1].startswith("database at ")
    current = _run(venv / "bin" / "portal", "db", "current", cwd=elsewhere, env=env)
    assert "(behind)" not in current
    rendered = _run(python, "-c", RENDER_LOGIN, venv_site, cwd=elsewhere, env=env)
    assert "rendered /login" in rendered
