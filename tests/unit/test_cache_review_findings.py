"""What the disclosure point and the key services remember, as a review found it: each
test is named after what should happen and fails on the code as reviewed."""

from __future__ import annotations

import contextlib

from sqlmodel import select

from portal.errors import DomainError
from portal.federation import transport
from portal.models import Agency, AgencyKey, AgencyKind, Discipline, KeyPurpose, Node
from portal.services import keys as agency_keys
from portal.services import releases

import factories as make


def _agency_hosted_elsewhere(db) -> Agency:
    """An agency the roster places on another node: this node holds none of its keys."""
    node = Node(
        name="http://elsewhere.test",
        base_url="http://elsewhere.test",
        is_local=False,
        created_at=make.AT,
    )
    db.add(node)
    db.flush()
    agency = Agency(
        name="Welfare Elsewhere (synthetic)",
        kind=AgencyKind.SYSTEM,
        discipline=Discipline.CHILD_WELFARE,
        node_id=node.id,
        created_at=make.AT,
    )
    db.add(agency)
    db.flush()
    return agency


def test_a_signing_key_is_never_made_here_for_an_agency_hosted_on_another_node(db, keys):
    """Before: `portal keys rotate "Welfare Elsewhere"` (find_agency matches any agency on
    the node, roster members included) made a signing key for an agency this node does not
    host, its private half wrapped under THIS node's KEK. The node's public key list and
    the ring its verify page and `portal consent verify` use then name it as that
    agency's key "in use": this node's operator can sign releases (or revocations) that
    verify as the other agency's."""
    elsewhere = _agency_hosted_elsewhere(db)
    with contextlib.suppress(DomainError):  # refusing is the fix
        agency_keys.rotate_signing_key(db, elsewhere, keys=keys, actor=None, at=make.AT)
    db.flush()
    made = db.exec(
        select(AgencyKey).where(
            AgencyKey.agency_id == elsewhere.id, AgencyKey.purpose == KeyPurpose.SIGNING
        )
    ).all()
    ring = releases.keyring(db)  # what the verify page and `portal consent verify` trust
    trusted = [k.key_id for k in made if ring.get(k.key_id) is not None]
    assert not made, (
        f"this node now holds signing key(s) {[k.key_id for k in made]} for an agency hosted "
        f"elsewhere; trusted as that agency's by this node's verification: {trusted}"
    )


def test_a_rotation_leaves_no_retired_signing_key_unwrapped_in_the_process(db, keys):
    """services/keys.py promises "no retired key stays unwrapped in memory", but it only
    tells the KeyWrapper (which never holds signing keys) to forget. The federation
    transport's memo (agency -> unwrapped signing key) keeps the retired private key for as
    long as the process lives unless this agency happens to sign again: a key rotated
    because it leaked stays readable in every worker's memory."""
    agency = make.agency(db, keys)
    old_id, _old = transport.signing_key_of(db, agency, keys=keys)  # a federated call signed
    agency_keys.rotate_signing_key(db, agency, keys=keys, actor=None, at=make.AT)
    # The memo moved into the node's KeyWrapper, which the rotation tells to forget.
    assert not keys.holds(old_id), "the retired signing key is still held unwrapped"
