"""The service verbs behind the release pages: forms, restricted persons, verify, rotation, demo."""

import json
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

import consent
from portal.demo import seed as demo
from portal.disclosure.sealed_releases import release_text
from portal.errors import Conflict, Invalid
from portal.models import (
    AgencyKey,
    AgencyKind,
    AuditEntry,
    ConsentRelease,
    KeyPurpose,
    RestrictedPerson,
    Role,
)
from portal.services import clients, release_documents, releases, restricted_persons
from portal.services import keys as agency_keys
from portal.web import release_forms

import factories as make

TZ = ZoneInfo("America/New_York")
RULES = releases.MinorSigning(tz=TZ)


@pytest.fixture
def setup(db, keys):
    owner = make.agency(db, keys)
    partner = make.agency(db, keys, kind=AgencyKind.SYSTEM)
    client = make.client_record(db, owner, keys)
    witness = make.user(db, owner, Role.ADVOCATE)
    return owner, partner, client, witness


def form(partner, **changes):
    values = {
        "recipients": [partner.public_id],
        "sections": ["safety_plan"],
        "purpose": "referral",
        "effective_date": "2026-11-02",
        "expiry_kind": "date",
        "end_date": "2027-01-31",
        "language": "en",
    }
    values.update(changes)
    return values


def test_form_dates_are_days_in_the_mdt_time_zone(db, keys, setup):
    _, partner, client, witness = setup
    row = release_forms.draft_from_form(
        db, client, form(partner), tz=TZ, keys=keys, rules=RULES, actor=witness, at=make.AT
    )
    assert row.effective_at == datetime(2026, 11, 2, 5, 0, tzinfo=UTC)  # midnight in New York
    assert row.ends_at == datetime(2027, 1, 31, 5, 0, tzinfo=UTC)
    document = releases.draft_document(db, row, keys=keys)
    assert document.recipients == (partner.public_id,)
    assert document.purpose is consent.Purpose.REFERRAL


def test_event_expiry_needs_its_latest_date(db, keys, setup):
    _, partner, client, witness = setup
    with pytest.raises(Invalid) as caught:
        release_forms.draft_from_form(
            db,
            client,
            form(partner, expiry_kind="event", event="court case closes", latest_date=""),
            tz=TZ,
            keys=keys,
            rules=RULES,
            actor=witness,
            at=make.AT,
        )
    assert set(caught.value.errors) == {"latest_date"}
    row = release_forms.draft_from_form(
        db,
        client,
        form(partner, expiry_kind="event", event="court case closes", latest_date="2027-03-01"),
        tz=TZ,
        keys=keys,
        rules=RULES,
        actor=witness,
        at=make.AT,
    )
    assert releases.draft_document(db, row, keys=keys).expiry.event == "court case closes"


def test_the_owner_and_unknown_agencies_are_not_recipients(db, keys, setup):
    owner, partner, client, witness = setup
    for recipients in ([owner.public_id], ["all"], []):
        with pytest.raises(Invalid) as caught:
            release_forms.draft_from_form(
                db,
                client,
                form(partner, recipients=recipients),
                tz=TZ,
                keys=keys,
                rules=RULES,
                actor=witness,
                at=make.AT,
            )
        assert "recipients" in caught.value.errors
    assert owner not in releases.recipient_choices(db, owner)
    assert partner in releases.recipient_choices(db, owner)


def test_a_draft_signed_later_takes_effect_at_the_signature(db, keys, setup):
    _, partner, client, witness = setup
    row = release_forms.draft_from_form(
        db, client, form(partner), tz=TZ, keys=keys, rules=RULES, actor=witness, at=make.AT
    )
    later = make.AT + timedelta(hours=3)
    signed = release_forms.sign_from_form(
        db,
        row,
        {
            "signer_name": "Robin Example",
            "signer_capacity": "self",
            "method": "typed",
            "signed_date": "2026-11-02",
        },
        tz=TZ,
        actor=witness,
        keys=keys,
        rules=RULES,
        at=later,
    )
    assert signed.release.effective_at == later and row.effective_at == later
    assert consent.verify(signed.to_dict(), releases.keyring(db), at=later).ok


def test_restricted_person_refusal_offers_the_remaining_capacities(db, keys, setup):
    _, partner, client, witness = setup
    restricted_persons.record_restricted_person(
        db,
        client,
        name="Dana Suspect",
        reason="suspected_exploiter",
        actor=witness,
        at=make.AT,
        keys=keys,
    )
    with pytest.raises(Conflict):
        restricted_persons.record_restricted_person(
            db,
            client,
            name=" dana suspect ",
            reason="court_order",
            actor=witness,
            at=make.AT,
            keys=keys,
        )
    with pytest.raises(Invalid) as caught:
        restricted_persons.record_restricted_person(
            db,
            client,
            name="",
            reason="dislike",
            actor=witness,
            at=make.AT,
            keys=keys,
        )
    assert set(caught.value.errors) == {"name", "reason"}
    row = release_forms.draft_from_form(
        db, client, form(partner), tz=TZ, keys=keys, rules=RULES, actor=witness, at=make.AT
    )
    with pytest.raises(Invalid) as caught:
        release_forms.sign_from_form(
            db,
            row,
            {
                "signer_name": "Dana Suspect",
                "signer_capacity": "parent",
                "method": "paper",
                "paper_seen": "on",
                "signed_date": "2026-11-02",
            },
            tz=TZ,
            actor=witness,
            keys=keys,
            rules=RULES,
            at=make.AT,
        )
    message = caught.value.errors["signer_name"]
    assert "can never sign" in message
    assert message.endswith("Someone else may sign as: legal guardian, custodian by court order.")
    assert db.get(ConsentRelease, row.id).state == "draft"
    assert [p.name for p in restricted_persons.restricted_persons_of(db, client, keys=keys)] == [
        "Dana Suspect"
    ]


def _signed(db, keys, setup, at=make.AT, tz=UTC):
    _, partner, client, witness = setup
    day = at.astimezone(TZ).date().isoformat()
    row = release_forms.draft_from_form(
        db,
        client,
        form(partner, effective_date=day),
        tz=TZ,
        keys=keys,
        rules=RULES,
        actor=witness,
        at=at,
    )
    releases.sign(
        db,
        row,
        signer=consent.Signer("Robin Example", consent.Capacity.SELF),
        second_signer=None,
        method=consent.SignatureMethod.TYPED,
        actor=witness,
        keys=keys,
        at=at,
    )
    db.flush()
    return row


def test_verify_upload_names_changed_fields_and_reads_revocations(db, keys, setup):
    row = _signed(db, keys, setup)
    envelope = json.loads(release_text(db, row, keys=keys))
    report = release_documents.verify_upload(
        db, json.dumps(envelope).encode(), at=make.AT, tz=UTC, keys=keys
    )
    assert report.valid and report.revocations_known

    changed = json.loads(release_text(db, row, keys=keys))
    changed["release"]["expiry"]["at"] = "2030-01-01T00:00:00Z"
    changed["release"]["language"] = "es"
    report = release_documents.verify_upload(
        db, json.dumps(changed).encode(), at=make.AT, tz=UTC, keys=keys
    )
    assert not report.valid and report.code == "bad_signature"
    assert report.tampered_fields == ("expiry.at", "language")

    releases.revoke(db, row, reason=None, actor=setup[3], keys=keys, at=make.AT + timedelta(days=1))
    db.flush()
    later = release_documents.verify_upload(
        db,
        json.dumps(envelope).encode(),
        at=make.AT + timedelta(days=2),
        tz=UTC,
        keys=keys,
    )
    assert later.signature_ok and not later.valid and later.code == "revoked"
    before = release_documents.verify_upload(
        db, json.dumps(envelope).encode(), at=make.AT, tz=UTC, keys=keys
    )
    assert before.valid  # the revocation counts from its own time on


@pytest.mark.parametrize("data", [b"", b"null", b"{}", b"x" * (64 * 1024 + 1)])
def test_verify_upload_refuses_what_is_not_a_signed_release(db, keys, data):
    with pytest.raises(Invalid) as caught:
        release_documents.verify_upload(db, data, keys=keys, at=make.AT, tz=UTC)
    assert caught.value.errors["document"]


def test_rotation_retires_but_keeps_the_old_key(db, keys, setup):
    owner, *_ = setup
    old_row = _signed(db, keys, setup)
    old_envelope = json.loads(release_text(db, old_row, keys=keys))
    rotated_at = make.AT + timedelta(days=1)
    new_key = agency_keys.rotate_signing_key(db, owner, keys=keys, actor=None, at=rotated_at)
    signing = db.exec(
        select(AgencyKey).where(
            AgencyKey.agency_id == owner.id, AgencyKey.purpose == KeyPurpose.SIGNING
        )
    ).all()
    assert len(signing) == 2 and {k.retired_at for k in signing} == {None, rotated_at}
    ring = releases.keyring(db)
    assert consent.verify(old_envelope, ring, at=rotated_at).ok
    assert ring.current_key_id(owner.public_id, at=rotated_at) == new_key.key_id
    new_row = _signed(db, keys, setup, at=rotated_at)
    assert new_row.key_id == new_key.key_id
    entry = db.exec(select(AuditEntry).where(AuditEntry.tag == "admin:key:rotated")).one()
    assert old_envelope["signature"]["kid"] in entry.detail


def test_client_pages_are_counted_and_cut_in_sql(db, keys):
    owner = make.agency(db, keys)
    other = make.agency(db, keys)
    for n in range(7):
        make.client_record(db, owner, keys, given=f"P{n}")
    make.client_record(db, other, keys)
    assert clients.count_clients(db, owner) == 7
    first = clients.clients_page(db, owner, page=1, per_page=5)
    second = clients.clients_page(db, owner, page=2, per_page=5)
    assert len(first) == 5 and len(second) == 2
    assert {c.agency_id for c in first + second} == {owner.id}
    assert not {c.id for c in first} & {c.id for c in second}


def test_demo_seed_has_releases_in_every_state(db, keys):
    at = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    demo.seed(db, keys=keys, at=at, today=date(2026, 11, 2), case_count=6, rng=random.Random(1))
    db.flush()
    states = set()
    ring = releases.keyring(db)
    for row in db.exec(select(ConsentRelease)):
        status = releases.status_of(db, row, at=at, keys=keys)
        states.add("draft" if status is None else status.state.value)
        if status is not None:
            assert consent.verify(json.loads(release_text(db, row, keys=keys)), ring, at=at).ok
    assert states == {"draft", "active", "expired", "revoked", "not_yet_effective"}
    assert len(db.exec(select(RestrictedPerson)).all()) == 1
