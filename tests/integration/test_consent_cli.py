"""`portal consent verify`, `portal keys rotate` and `portal keys list` on a node's database."""

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from nacl.signing import SigningKey
from sqlmodel import select

import consent
from portal.cli import main as cli
from portal.crypto import KeyWrapper
from portal.db import make_engine, unit_of_work
from portal.models import Agency, AgencyKey, AuditEntry, Client, KeyPurpose, Role
from portal.services import agencies, clients, releases, staff
from portal.settings import from_environment


@pytest.fixture
def node(tmp_path, monkeypatch):
    """A migrated SQLite node with its own secrets file, as an operator would have it."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'node.db'}")
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.delenv("PORTAL_KEK", raising=False)
    monkeypatch.delenv("PORTAL_SESSION_KEY", raising=False)
    assert cli.main(["db", "upgrade"]) == 0
    settings = from_environment()
    return make_engine(settings.database_url), KeyWrapper(settings.secrets.kek_bytes())


def now() -> datetime:
    return datetime.now(UTC)


def make_release(node, *, owner_name="Owner Agency (synthetic)", days=90, at=None, language="en"):
    engine, keys = node
    at = at or now() - timedelta(seconds=5)
    with unit_of_work(engine) as db:
        owner = db.exec(select(Agency).where(Agency.name == owner_name)).first()
        if owner is None:
            owner = agencies.create_agency(
                db,
                name=owner_name,
                kind="community",
                discipline="advocacy",
                actor=None,
                keys=keys,
                at=at - timedelta(hours=1),
            )
            agencies.create_agency(
                db,
                name="Partner Agency (synthetic)",
                kind="system",
                discipline="law_enforcement",
                actor=None,
                keys=keys,
                at=at - timedelta(hours=1),
            )
            staff.create_staff(
                db,
                owner,
                username="witness",
                display_name="Wren Witness",
                password="a long synthetic passphrase",
                roles=[Role.ADVOCATE.value],
                actor=None,
                at=at,
            )
        partner = db.exec(select(Agency).where(Agency.name == "Partner Agency (synthetic)")).one()
        witness = db.exec(
            select(staff.StaffUser).where(staff.StaffUser.username == "witness")
        ).one()
        # One client, R-1, whatever number of releases it signs.
        client_row = db.exec(
            select(Client).where(Client.agency_id == owner.id, Client.reference == "R-1")
        ).first() or clients.register_client(
            db,
            owner,
            clients.Identity("Robin", "Example", datetime(2000, 5, 17).date()),
            reference="R-1",
            actor=None,
            keys=keys,
            at=at,
        )
        row = releases.draft_release(
            db,
            client_row,
            recipients=[partner.public_id],
            sections=["safety_plan"],
            purpose="mdt_case_review",
            effective_at=at,
            expiry=consent.DateExpiry(at + timedelta(days=days)),
            keys=keys,
            language=language,
            actor=witness,
            at=at,
        )
        signed = releases.sign(
            db,
            row,
            signer=consent.Signer("Robin Example", consent.Capacity.SELF),
            second_signer=None,
            method=consent.SignatureMethod.TYPED,
            actor=witness,
            keys=keys,
            at=at,
        )
        return signed.to_dict(), row.public_id


def verify(tmp_path, capsys, envelope_or_bytes, name="release.json"):
    path = tmp_path / name
    data = envelope_or_bytes
    if not isinstance(data, bytes):
        data = json.dumps(data).encode()
    path.write_bytes(data)
    code = cli.main(["consent", "verify", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_signed_release_verifies(node, tmp_path, capsys):
    envelope, _ = make_release(node)
    code, output = verify(tmp_path, capsys, envelope)
    assert code == 0, output
    assert output.startswith("VALID:") and "in effect until" in output


def test_the_verdict_dates_the_release_in_the_mdts_time_zone(node, tmp_path, capsys, monkeypatch):
    """The operator reads the same dates as the node's staff: the command said 'in effect
    until … UTC' (the node's zone is a setting it can read without the secrets)."""
    monkeypatch.setenv("PORTAL_MDT_TIMEZONE", "America/Chicago")
    at = now().replace(microsecond=0) - timedelta(seconds=5)
    envelope, _ = make_release(node, at=at, days=90)
    end = (at + timedelta(days=90)).astimezone(ZoneInfo("America/Chicago"))
    code, output = verify(tmp_path, capsys, envelope)
    assert code == 0, output
    assert f"in effect until {end:%Y-%m-%d %H:%M} {end.tzname()}" in output
    assert "UTC" not in output


def test_a_spanish_release_verifies_and_says_its_language(node, tmp_path, capsys):
    envelope, _ = make_release(node, language="es")
    assert envelope["release"]["statements"]["no_conditioning"].startswith("Usted no tiene")
    code, output = verify(tmp_path, capsys, envelope)
    assert code == 0, output
    digest = envelope["release"]["statements_sha256"]
    assert "language: es" in output and f"statements sha256: {digest}" in output
    envelope["release"]["statements"]["revocation"] = "Usted no puede retirar este permiso."
    code, output = verify(tmp_path, capsys, envelope)
    assert code == 1 and "bad_signature" in output


def test_a_tampered_release_is_not_valid_and_its_stored_fields_are_not_told(node, tmp_path, capsys):
    """The operator reads no survivor information: which fields differ from the stored
    release is said on the verify page, to the agency's staff who may read it."""
    envelope, _ = make_release(node)
    envelope["release"]["purpose"] = "referral"
    code, output = verify(tmp_path, capsys, envelope)
    assert code == 1
    assert "NOT VALID" in output and "bad_signature" in output
    assert "changed since signing" not in output


def test_an_unknown_key_is_reported(node, tmp_path, capsys):
    envelope, _ = make_release(node)
    document = consent.Release.from_dict(envelope["release"])
    stranger = SigningKey.generate()
    forged = consent.sign_release(
        document, stranger, consent.key_id_for(document.disclosing_agency, stranger.verify_key)
    )
    code, output = verify(tmp_path, capsys, forged.to_dict())
    assert code == 1 and "unknown_key" in output and "not on the roster" in output


def test_a_revoked_release_is_not_valid(node, tmp_path, capsys):
    engine, keys = node
    envelope, public_id = make_release(node)
    with unit_of_work(engine) as db:
        row = db.exec(
            select(releases.ConsentRelease).where(releases.ConsentRelease.public_id == public_id)
        ).one()
        witness = db.exec(select(staff.StaffUser)).first()
        releases.revoke(db, row, reason=None, actor=witness, keys=keys, at=now())
    code, output = verify(tmp_path, capsys, envelope)
    assert code == 1 and "revoked" in output and "signature is valid" in output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{oops", "not valid JSON"),
        (b'{"release": 1, "signature": 2}', "must be an object"),
        (b'"' + b"a" * (65 * 1024) + b'"', "too large"),
    ],
)
def test_malformed_or_oversized_input_exits_2_with_the_reason(
    node, tmp_path, capsys, content, message
):
    code, output = verify(tmp_path, capsys, content)
    assert code == 2 and message in output and "Traceback" not in output


@pytest.mark.parametrize("size", [65 * 1024, 50 * 1024 * 1024])
def test_a_file_too_large_is_said_as_more_than_the_limit(node, tmp_path, capsys, size):
    """A 50 MB file was said to be '65537 bytes' (what was read of it: the limit and one
    byte more), whatever its size."""
    code, output = verify(tmp_path, capsys, b"a" * size)
    assert code == 2, output
    assert output.strip() == (
        "NOT VALID: The document is too large: more than 64 KB, the most it may be."
    )


def test_a_missing_file_exits_2(node, tmp_path, capsys):
    assert cli.main(["consent", "verify", str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_rotation_keeps_old_releases_verifying_and_signs_new_ones_with_the_new_key(
    node, tmp_path, capsys
):
    engine, _ = node
    old_envelope, _ = make_release(node)
    assert cli.main(["keys", "rotate", "owner agency (synthetic)"]) == 0
    assert "new signing key" in capsys.readouterr().out
    code, output = verify(tmp_path, capsys, old_envelope)
    assert code == 0, output
    new_envelope, _ = make_release(node, at=now())
    assert new_envelope["signature"]["kid"] != old_envelope["signature"]["kid"]
    code, output = verify(tmp_path, capsys, new_envelope, name="new.json")
    assert code == 0, output
    with unit_of_work(engine) as db:
        owner = db.exec(select(Agency).where(Agency.name == "Owner Agency (synthetic)")).one()
        signing = db.exec(
            select(AgencyKey).where(
                AgencyKey.agency_id == owner.id, AgencyKey.purpose == KeyPurpose.SIGNING
            )
        ).all()
        assert sorted(k.retired_at is None for k in signing) == [False, True]
        rotated = db.exec(select(AuditEntry).where(AuditEntry.tag == "admin:key:rotated")).one()
        assert rotated.agency_id == owner.id and rotated.subject == new_envelope["signature"]["kid"]
    assert cli.main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert old_envelope["signature"]["kid"] in listing and "in use" in listing


def test_rotating_an_unknown_agency_is_an_error(node, capsys):
    assert cli.main(["keys", "rotate", "Nobody Agency"]) == 2
    assert "no agency named 'Nobody Agency' on this node" in capsys.readouterr().err
