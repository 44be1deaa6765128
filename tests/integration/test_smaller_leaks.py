"""The smaller leaks of issue 12 (finding 5): references, proxies, allowed hosts."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from portal import cli
from portal.app import create_app
from portal.models import AuditEntry
from portal.services import cases
from portal.settings import Settings, refuse_unsafe_production

import factories as make

REFERENCE = re.compile(r"^MDT-2026-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$")


def test_case_references_are_random_and_reveal_no_count(db, keys):
    agency = make.agency(db, keys)
    references = [make.mdt_case(db, agency).reference for _ in range(12)]
    assert all(REFERENCE.match(r) for r in references), references
    assert len(set(references)) == len(references)
    assert references != sorted(references)  # 12 random ones in order: 1 in 479 million


def test_a_taken_reference_is_drawn_again(db, keys):
    agency = make.agency(db, keys)
    taken = make.mdt_case(db, agency).reference
    draws = iter(taken[-6:] + "BBBBBB")
    assert cases.next_reference(db, 2026, choose=lambda _: next(draws)) == "MDT-2026-BBBBBB"


def _failed_sign_in_address(client, db, **headers) -> str:
    page = client.get("/login")
    client.post(
        "/login",
        data={"csrf_token": make.csrf_from(page.text), "username": "nobody", "password": "x"},
        headers=headers,
    )
    entry = db.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    return entry.client_address


def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(client, db):
    assert _failed_sign_in_address(client, db, **{"X-Forwarded-For": "203.0.113.9"}) == (
        "testclient"
    )


def test_x_forwarded_for_is_believed_from_a_trusted_proxy(settings, engine, connection, db):
    trusting = Settings(**{**settings.__dict__, "trusted_proxies": ("testclient",)})
    app = create_app(trusting, engine=engine, bind=connection)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        forwarded = {"X-Forwarded-For": "203.0.113.9"}
        assert _failed_sign_in_address(client, db, **forwarded) == "203.0.113.9"


def test_production_start_refuses_any_host(settings, monkeypatch, tmp_path, capsys):
    with pytest.raises(ValueError, match="PORTAL_ALLOWED_HOSTS"):
        refuse_unsafe_production(settings)
    refuse_unsafe_production(Settings(**{**settings.__dict__, "demo": True}))
    refuse_unsafe_production(Settings(**{**settings.__dict__, "allowed_hosts": ("mdt.test",)}))
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.delenv("PORTAL_ALLOWED_HOSTS", raising=False)
    assert cli.main(["serve"]) == 2
    assert "error: PORTAL_ALLOWED_HOSTS is '*'" in capsys.readouterr().err
