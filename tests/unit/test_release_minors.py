"""Who must sign for a minor (issue 19): computed from the sealed birth date at the moment
of signing, under the MDT's rule; a Spanish release; restricted persons never sign."""

from __future__ import annotations

import json
from datetime import UTC, date, timedelta

import pytest

import consent
from portal import i18n
from portal.errors import Invalid
from portal.models import AgencyKind, Role
from portal.services import release_documents, releases, restricted_persons

import factories as make

GUARDED = consent.MinorRule.MINOR_AND_GUARDIAN
ALONE = consent.MinorRule.MINOR_ALONE
AT = make.AT  # 2026-11-02 15:00 UTC; in UTC the signing day is 2026-11-02
SIGNING_DAY = AT.date()

CLIENT = consent.Signer("Robin Example", consent.Capacity.SELF)
PARENT = consent.Signer("Pat Example", consent.Capacity.PARENT)
GUARDIAN = consent.Signer("Gale Guardian", consent.Capacity.LEGAL_GUARDIAN)
SIGNERS = {
    "client alone": (CLIENT, None),
    "client and parent": (CLIENT, PARENT),
    "client and guardian": (CLIENT, GUARDIAN),
    "guardian alone": (GUARDIAN, None),
}
AGES = {
    "15": (date(2011, 6, 1), True),
    "18 tomorrow": (SIGNING_DAY.replace(year=SIGNING_DAY.year - 18) + timedelta(days=1), True),
    "18 today": (SIGNING_DAY.replace(year=SIGNING_DAY.year - 18), False),
    "30": (date(1996, 1, 1), False),
}
# (minor?, rule, signers) -> the field refused, or None when the release is signed.
EXPECTED = {
    (True, GUARDED, "client alone"): "second_signer",
    (True, GUARDED, "client and parent"): None,
    (True, GUARDED, "client and guardian"): None,
    (True, GUARDED, "guardian alone"): "signer",
    (True, ALONE, "client alone"): None,
    (True, ALONE, "client and parent"): None,
    (True, ALONE, "client and guardian"): None,
    (True, ALONE, "guardian alone"): "signer",
}
for _rule in (GUARDED, ALONE):
    EXPECTED[(False, _rule, "client alone")] = None
    EXPECTED[(False, _rule, "client and parent")] = "second_signer"  # a parent signs for a minor
    EXPECTED[(False, _rule, "client and guardian")] = None
    EXPECTED[(False, _rule, "guardian alone")] = None


def _draft(db, keys, *, birth: date, language: str | None = None, rules=None):
    owner = make.agency(db, keys)
    recipient = make.agency(db, keys, kind=AgencyKind.SYSTEM)
    client = make.client_record(db, owner, keys, birth=birth)
    witness = make.user(db, owner, Role.ADVOCATE)
    row = releases.draft_release(
        db,
        client,
        recipients=[recipient.public_id],
        sections=["safety_plan"],
        purpose="mdt_case_review",
        effective_at=AT,
        expiry=consent.DateExpiry(AT + timedelta(days=90)),
        language=language,
        keys=keys,
        rules=rules or releases.MinorSigning(),
        actor=witness,
        at=AT - timedelta(days=2),
    )
    return client, witness, row


@pytest.mark.parametrize("signers", list(SIGNERS))
@pytest.mark.parametrize("rule", [GUARDED, ALONE])
@pytest.mark.parametrize("age", list(AGES))
def test_age_at_signing_by_rule_by_signers_present(db, keys, age, rule, signers):
    birth, minor = AGES[age]
    rules = releases.MinorSigning(rule=rule)
    _, witness, row = _draft(db, keys, birth=birth, rules=rules)
    signer, second = SIGNERS[signers]
    refused = EXPECTED[(minor, rule, signers)]

    def sign():
        return releases.sign(
            db,
            row,
            signer=signer,
            second_signer=second,
            method=consent.SignatureMethod.TYPED,
            actor=witness,
            keys=keys,
            rules=rules,
            at=AT,
        )

    if refused is None:
        document = sign().release
        assert document.client_is_minor is minor
        assert document.minor_rule == (rule if minor else None)
        assert document.second_signer_required is (minor and rule is GUARDED)
    else:
        with pytest.raises(Invalid) as caught:
            sign()
        assert refused in caught.value.errors
        message = caught.value.errors[refused]
        if (minor, signers) == (True, "client alone"):
            assert "parent, legal guardian or custodian must sign" in message
        if (minor, signers) == (True, "guardian alone"):
            assert "minor's own signature is missing" in message


def test_minority_is_decided_at_signing_not_at_drafting(db, keys):
    # Drafted the day before the 18th birthday, signed on it: an adult signs alone.
    birth = SIGNING_DAY.replace(year=SIGNING_DAY.year - 18)
    _client, witness, row = _draft(db, keys, birth=birth)
    assert releases.draft_document(db, row, keys=keys).client_is_minor is True
    signed = releases.sign(
        db,
        row,
        signer=CLIENT,
        second_signer=None,
        method=consent.SignatureMethod.TYPED,
        actor=witness,
        keys=keys,
        at=AT,
    )
    assert signed.release.client_is_minor is False and signed.release.minor_rule is None


def test_turning_18_keeps_the_release_and_says_the_client_may_sign_alone(db, keys):
    birth = SIGNING_DAY.replace(year=SIGNING_DAY.year - 18) + timedelta(days=10)
    client, witness, row = _draft(db, keys, birth=birth)
    releases.sign(
        db,
        row,
        signer=CLIENT,
        second_signer=PARENT,
        method=consent.SignatureMethod.TYPED,
        actor=witness,
        keys=keys,
        at=AT,
    )
    before = releases.signed_as_minor_now_adult(db, client, keys=keys, at=AT + timedelta(days=5))
    after = releases.signed_as_minor_now_adult(db, client, keys=keys, at=AT + timedelta(days=11))
    assert before == [] and after == [row]
    status = releases.status_of(db, row, at=AT + timedelta(days=11), keys=keys)
    assert status.state == consent.ReleaseState.ACTIVE


def test_a_spanish_release_records_its_language_and_the_statements_shown(db, keys):
    _client, witness, row = _draft(db, keys, birth=date(1990, 3, 3), language="es")
    signed = releases.sign(
        db,
        row,
        signer=CLIENT,
        second_signer=None,
        method=consent.SignatureMethod.TYPED,
        actor=witness,
        keys=keys,
        at=AT,
    )
    document = signed.release
    spanish = i18n.statements("es")
    assert document.language == "es"
    assert document.statements == spanish
    assert "Usted puede retirar (revocar) este permiso" in document.statements.revocation
    assert document.statements_sha256 == consent.statements_digest(spanish)
    assert document.statements_sha256 != consent.statements_digest(i18n.statements("en"))
    report = release_documents.verify_upload(
        db,
        json.dumps(signed.to_dict()).encode(),
        at=AT,
        tz=UTC,
        keys=keys,
    )
    assert report.valid and report.release.language == "es"


def test_the_client_preferred_language_is_the_default(db, keys):
    owner = make.agency(db, keys)
    partner = make.agency(db, keys)
    client = make.client_record(db, owner, keys)
    client.preferred_language = "es"
    row = releases.draft_release(
        db,
        client,
        recipients=[partner.public_id],
        sections=["safety_plan"],
        purpose="mdt_case_review",
        effective_at=AT,
        expiry=consent.DateExpiry(AT + timedelta(days=30)),
        keys=keys,
        actor=None,
        at=AT,
    )
    assert releases.draft_document(db, row, keys=keys).language == "es"


@pytest.mark.parametrize(
    "capacity", [c for c in consent.Capacity if c is not consent.Capacity.SELF]
)
@pytest.mark.parametrize("reason", ["suspected_exploiter", "court_order", "other"])
def test_a_restricted_person_never_signs_as_a_guardian(db, keys, capacity, reason):
    client, witness, row = _draft(db, keys, birth=date(2012, 2, 2))
    restricted_persons.record_restricted_person(
        db,
        client,
        name="Dana Suspect",
        reason=reason,
        note="Threatened the client (fictional)" if reason == "other" else None,
        actor=witness,
        at=AT,
        keys=keys,
    )
    with pytest.raises(Invalid) as caught:
        releases.sign(
            db,
            row,
            signer=CLIENT,
            second_signer=consent.Signer("  dana SUSPECT ", capacity),
            method=consent.SignatureMethod.TYPED,
            actor=witness,
            keys=keys,
            at=AT,
        )
    message = caught.value.errors["second_signer"]
    assert "recorded on this client as" in message and "can never sign" in message
    wanted = {
        "suspected_exploiter": "a suspected exploiter",
        "court_order": "a court order keeps away",
        "other": "Threatened the client (fictional)",
    }[reason]
    assert wanted in message


def test_an_ended_restriction_no_longer_refuses_and_its_history_stays(db, keys):
    client, witness, row = _draft(db, keys, birth=date(2012, 2, 2))
    person = restricted_persons.record_restricted_person(
        db,
        client,
        name="Pat Example",
        reason="court_order",
        actor=witness,
        at=AT,
        keys=keys,
    )
    with pytest.raises(Invalid):
        restricted_persons.end_restriction(db, person, reason="", actor=witness, at=AT, keys=keys)
    restricted_persons.end_restriction(
        db,
        person,
        reason="The order was lifted (fictional).",
        actor=witness,
        at=AT,
        keys=keys,
    )
    assert restricted_persons.excluded_signers(db, client, keys=keys) == {}
    [history] = restricted_persons.restricted_persons_of(db, client, keys=keys)
    assert history.row is person.row
    assert history.ended_at == AT and history.end_reason == "The order was lifted (fictional)."
    signed = releases.sign(
        db,
        row,
        signer=CLIENT,
        second_signer=PARENT,
        method=consent.SignatureMethod.TYPED,
        actor=witness,
        keys=keys,
        at=AT,
    )
    assert signed.release.second_signer == PARENT
