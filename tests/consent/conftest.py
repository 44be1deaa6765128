"""Fixtures for the consent library tests; the builders live in consent_fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The helper module sits beside this file; make it importable under any pytest import mode.
sys.path.insert(0, str(Path(__file__).parent))

from consent import KeyRing

from consent_fixtures import build_keyring


@pytest.fixture
def keyring() -> KeyRing:
    return build_keyring()
