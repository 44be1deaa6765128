"""A summary's sealed content in a few prebuilt statements, whatever the number of owners;
data keys unwrapped once per key id until a rotation retires them."""

import random

from portal import crypto
from portal.bench.disclosure import _content_for  # synthetic values for every field
from portal.crypto import KeyWrapper
from portal.disclosure import content
from portal.disclosure.sources import SourceCache
from portal.models import Discipline, Role
from portal.sections import catalogue
from portal.services import cases, sections
from portal.services import keys as agency_keys

import factories as make
from databases import counted

OWNER_DISCIPLINES = (Discipline.HEALTH, Discipline.ADVOCACY, Discipline.CHILD_WELFARE)


def _sealed_sections(discipline):
    return [s for s in catalogue().for_discipline(discipline) if s.source is None]


def case_with_owners(db, keys, count: int):
    """A case with `count` owners, each with a linked client and every sealed section of
    its discipline saved once."""
    coordinating = make.agency(db, keys)
    case = make.mdt_case(db, coordinating)
    owners = []
    for number in range(count):
        discipline = OWNER_DISCIPLINES[number % len(OWNER_DISCIPLINES)]
        owner = make.agency(db, keys, discipline=discipline)
        client = make.client_record(db, owner, keys)
        cases.link_client(db, case, owner, client, actor=None, at=make.AT, confirmed=True)
        staff = make.user(db, owner, Role.CLINICIAN)
        for section in _sealed_sections(discipline):
            if not section.written_by and not section.part_of:  # a part is read from its whole
                values = _content_for(section, random.Random(number))
                sections.save_section(
                    db, client, section.key, values, actor=staff, keys=keys, at=make.AT
                )
        owners.append((owner, client, discipline))
    db.flush()
    return case, owners


def load_page(db, keys, case, owners) -> int:
    """Every sealed section of every owner, as one request loads them; returns how many."""
    cache = SourceCache()
    loaded = 0
    for owner, client, discipline in owners:
        for section in _sealed_sections(discipline):
            content.load(
                db,
                owner_id=owner.id,
                client_id=client.id,
                section=section,
                keys=keys,
                cache=cache,
                case_id=case.id,
            )
            loaded += 1
    return loaded


def test_a_summarys_sealed_content_takes_the_same_few_statements_for_2_or_6_owners(
    db, node_secrets
):
    counts = {}
    for size in (2, 6):
        keys = KeyWrapper(node_secrets.kek_bytes())  # nothing unwrapped yet
        case, owners = case_with_owners(db, keys, size)
        keys = KeyWrapper(node_secrets.kek_bytes())
        with counted(db) as statements:
            loaded = load_page(db, keys, case, owners)
        assert loaded > size * 3
        counts[size] = len(statements)
    # newest versions, identities, keys: before, six statements per owner and section kind
    assert counts[2] == counts[6] <= 8, counts


def test_known_keys_are_not_read_again_and_a_rotation_forgets_them(db, node_secrets):
    keys = KeyWrapper(node_secrets.kek_bytes())
    case, owners = case_with_owners(db, keys, 2)
    keys = KeyWrapper(node_secrets.kek_bytes())
    with counted(db) as first:
        load_page(db, keys, case, owners)
    with counted(db) as second:  # the next request: a new cache, the same node keys
        load_page(db, keys, case, owners)
    assert any("agency_key" in s for s in first)
    assert not any("agency_key" in s for s in second)
    assert len(second) < len(first)

    owner = owners[0][0]
    data_key = agency_keys.current_key(db, owner.id, "data")
    assert keys.known_key(data_key.key_id) is not None
    keys.forget([data_key.key_id])
    assert crypto._seal_box.cache_info().currsize == 0  # no sealing subkey kept either
    with counted(db) as third:
        load_page(db, keys, case, owners)
    assert any("agency_key" in s for s in third)


def test_a_rotated_signing_key_is_not_kept_unwrapped(db, keys):
    owner = make.agency(db, keys)
    signing = agency_keys.current_key(db, owner.id, "signing")
    keys.unwrap_key(signing.key_id, owner.id, signing.wrapped_secret)
    agency_keys.rotate_signing_key(db, owner, keys=keys, actor=None, at=make.AT)
    assert keys.known_key(signing.key_id) is None


def test_a_key_of_another_agency_opens_nothing(db, keys):
    import pytest

    from portal.errors import NotFound

    case, owners = case_with_owners(db, keys, 2)
    (_owner, client, discipline), (other, _client, _d) = owners
    section = _sealed_sections(discipline)[0]
    # The client asked for under the wrong owner: its records are not that owner's.
    with pytest.raises(NotFound):
        cache = SourceCache()
        loaded = content.load(
            db,
            owner_id=other.id,
            client_id=client.id,
            section=section,
            keys=keys,
            cache=cache,
            case_id=case.id,
        )
        assert loaded.version is not None  # reached only if a version was opened


def test_a_summary_reads_its_participants_agencies_and_nodes_once(db, keys):
    """The participants' query reads each agency with its node: the disclosure point then
    reads no node row, and not the viewer's agency (one of them) again."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from portal.requester import Requester
    from portal.services import case_summary

    case, owners = case_with_owners(db, keys, 3)
    viewer_agency = owners[0][0]
    staff = make.user(db, viewer_agency, Role.CLINICIAN)
    requester = Requester.of(staff, viewer_agency, {Role.CLINICIAN.value})
    db.commit()  # a new transaction: nothing of the build is remembered
    with counted(db) as statements:
        overview = case_summary.overview(db, case, window_days=14, today=make.AT.date())
        blocks = case_summary.page_blocks(
            db,
            requester,
            case,
            overview.participants,
            at=make.AT + timedelta(hours=1),
            tz=ZoneInfo("America/New_York"),
            keys=keys,
            budget_seconds=60,
        )
    assert all(block.decisions for block in blocks)
    reads = [" ".join(s.split()).lower() for s in statements]
    assert not [s for s in reads if s.startswith("select") and " from node " in f"{s} "], reads
    # The viewer's agency is a participant: never looked up by its public id again.
    assert not [s for s in reads if "from agency where agency.public_id" in s], reads
