"""Where the portal's data files are: templates, policies and migrations, in the package.

The checkout keeps them at its top level (templates/, policies/, migrations/); portal/
links to each, so an editable install reads the checkout and a wheel carries copies
(pyproject's package-data). Either way they are found from the installed package, never
from the working directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _directory(name: str) -> Path:
    found = files("portal") / name
    # Jinja2's loader and Alembic read real directories: an unpacked install gives a Path.
    if not isinstance(found, Path) or not found.is_dir():
        raise RuntimeError(f"the portal package has no {name}/ directory; reinstall it")
    return found


TEMPLATES_DIR = _directory("templates")
POLICIES_DIR = _directory("policies")
MIGRATIONS_DIR = _directory("migrations")
