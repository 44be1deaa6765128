"""The hash chain behind record(), signed checkpoints, and what `verify` detects."""

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import delete, event, text, update
from sqlmodel import select

from portal.audit import AuditTag, DisclosureFacts, chain, lock_order, record, verify, walk
from portal.audit.checkpoints import CHECKPOINT_EVERY, CheckpointSigner
from portal.models import (
    GENESIS_HASH,
    NODE_LOG,
    Agency,
    AuditCheckpoint,
    AuditEntry,
    AuditHead,
    Role,
)
from portal.services import audit_log

import factories as make

AT = make.AT


def entries_of(db, log_key):
    return db.exec(
        select(AuditEntry).where(AuditEntry.log_key == log_key).order_by(AuditEntry.seq)
    ).all()


def disclosure(db, owner, viewer, client, *, decision="released", n=0):
    return record(
        db,
        AuditTag.AUDIT_EXPORTED,
        agency_id=owner.id,
        actor=viewer,
        subject="MDT-2026-0001",
        detail={"n": n},
        at=AT + timedelta(minutes=n),
        client_address="203.0.113.9",
        disclosure=DisclosureFacts(
            case_ref="MDT-2026-0001",
            client_ref=client.public_id,
            section_key="safety_plan",
            purpose="mdt_case_review",
            decision=decision,
            gate=None if decision == "released" else "consent",
            release_ref="11111111-1111-4111-8111-111111111111",
            policy_rule="p, system, case_manager, safety_plan, mdt_case_review, allow",
            viewer_role="case_manager",
        ),
    )


@pytest.fixture
def log(db, keys):
    """An agency's log of 6 entries, disclosures among them, flushed; and its verdict."""
    owner = make.agency(db, keys)
    partner = make.agency(db, keys)
    viewer = make.user(db, partner, Role.CASE_MANAGER)
    client = make.client_record(db, owner, keys)
    for n in range(3):
        disclosure(db, owner, viewer, client, n=n, decision=("released", "withheld")[n % 2])
    db.flush()
    assert verify.verify_log(db, owner.public_id).ok
    return owner, partner, viewer, client


def problem(db, agency):
    db.flush()
    db.expire_all()
    return verify.verify_log(db, agency.public_id).problem


def test_hashed_fields_are_every_column_but_id_and_entry_hash():
    columns = {c.name for c in AuditEntry.__table__.columns}
    assert set(chain.HASHED_FIELDS) == columns - {"id", "entry_hash"}


def test_each_log_counts_from_one_and_links_to_the_entry_before(db, keys, log):
    owner, partner, *_ = log
    record(db, AuditTag.SIGN_IN_FAILED, agency_id=None, subject="nobody", at=AT)
    db.flush()
    for log_key in (owner.public_id, partner.public_id):
        entries = entries_of(db, log_key)
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        assert entries[0].prev_hash == GENESIS_HASH
        for before, after in itertools.pairwise(entries):
            assert after.prev_hash == before.entry_hash
        for entry in entries:
            assert entry.entry_hash == chain.entry_hash(entry)
        head = db.get(AuditHead, log_key)
        assert (head.last_seq, head.last_hash) == (entries[-1].seq, entries[-1].entry_hash)
    node = entries_of(db, NODE_LOG)
    assert node and node[-1].agency_id is None and node[-1].log_key == NODE_LOG


def test_the_hash_is_sha256_of_the_rfc8785_content(db, log):
    import hashlib

    import consent

    entry = entries_of(db, log[0].public_id)[-1]
    content = {name: getattr(entry, name) for name in chain.HASHED_FIELDS}
    content["at"] = entry.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert entry.entry_hash == hashlib.sha256(consent.canonical_bytes(content)).hexdigest()


# One edit per hashed column (and the stored hash itself), each changing the value.
EDITS = {
    "agency_id": lambda ctx: ctx["partner"].id,
    "log_key": lambda ctx: "tampered",
    "seq": lambda ctx: ctx["entry"].seq + 100,
    "prev_hash": lambda ctx: "f" * 64,
    "tag": lambda ctx: "auth:session:signed_in",
    "at": lambda ctx: ctx["entry"].at + timedelta(seconds=1),
    "actor_user_id": lambda ctx: ctx["other_user"].id,
    "actor_agency_id": lambda ctx: ctx["other_agency"].id,
    "actor_role": lambda ctx: "investigator",
    "subject": lambda ctx: "someone else",
    "detail": lambda ctx: '{"n":99}',
    "client_address": lambda ctx: "198.51.100.1",
    "case_ref": lambda ctx: "MDT-2026-0999",
    "client_id": lambda ctx: ctx["other_client"].id,
    "format": lambda ctx: 1,
    "actor_user_ref": lambda ctx: ctx["other_user"].public_id,
    "actor_agency_ref": lambda ctx: ctx["other_agency"].public_id,
    "client_ref": lambda ctx: ctx["other_client"].public_id,
    "section_key": lambda ctx: "mental_health",
    "purpose": lambda ctx: "referral",
    "decision": lambda ctx: "withheld" if ctx["entry"].decision != "withheld" else "released",
    "gate": lambda ctx: "policy",
    "release_ref": lambda ctx: "22222222-2222-4222-8222-222222222222",
    "policy_rule": lambda ctx: "p, *, *, *, *, allow",
    "entry_hash": lambda ctx: "e" * 64,
}


def test_every_hashed_column_has_an_edit():
    assert set(EDITS) == set(chain.HASHED_FIELDS) | {"entry_hash"}


@pytest.mark.parametrize("position", ["first", "middle", "last"])
@pytest.mark.parametrize("column", sorted(EDITS))
def test_editing_any_column_of_any_entry_is_detected(db, keys, log, column, position):
    owner, partner, _viewer, _client = log
    entries = entries_of(db, owner.public_id)
    entry = {"first": entries[0], "middle": entries[len(entries) // 2], "last": entries[-1]}[
        position
    ]
    other_agency = make.agency(db, keys)
    ctx = {
        "entry": entry,
        "partner": partner,
        "other_agency": other_agency,
        "other_user": make.user(db, other_agency),
        "other_client": make.client_record(db, other_agency, keys),
    }
    value = EDITS[column](ctx)
    assert value != getattr(entry, column)
    db.execute(update(AuditEntry).where(AuditEntry.id == entry.id).values({column: value}))
    found = problem(db, owner)
    assert found is not None, f"editing {column} of the {position} entry went unnoticed"


@pytest.mark.parametrize("value", [3, -1, 0])
def test_an_entry_edited_to_a_format_no_node_writes_is_named_not_a_crash(db, log, value):
    """Verification names the edited entry (BROKEN, not "could not run") and goes on to the
    other logs."""
    owner, partner, *_ = log
    entry = entries_of(db, owner.public_id)[1]
    db.execute(update(AuditEntry).where(AuditEntry.id == entry.id).values(format=value))
    db.flush()
    db.expire_all()
    reports = {r.log_key: r for r in verify.verify_all(db)}
    found = reports[owner.public_id].problem
    assert found is not None and found.startswith(f"edited entry: seq {entry.seq} "), found
    assert reports[partner.public_id].ok


def test_an_edit_is_named_with_its_seq(db, log):
    owner = log[0]
    entry = entries_of(db, owner.public_id)[2]
    db.execute(update(AuditEntry).where(AuditEntry.id == entry.id).values(purpose="referral"))
    assert problem(db, owner).startswith(f"edited entry: seq {entry.seq} ")


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(db, log):
    owner = log[0]
    entries = entries_of(db, owner.public_id)
    entry = entries[1]
    entry.purpose = "referral"
    entry.entry_hash = chain.entry_hash(entry)
    db.add(entry)
    assert problem(db, owner).startswith(f"broken link at seq {entry.seq + 1} ")


def test_the_last_entry_rewritten_with_its_hash_disagrees_with_the_head(db, log):
    owner = log[0]
    entry = entries_of(db, owner.public_id)[-1]
    entry.decision = "released" if entry.decision == "withheld" else "withheld"
    entry.entry_hash = chain.entry_hash(entry)
    db.add(entry)
    assert problem(db, owner) == "the head's hash does not match the last entry"


@pytest.mark.parametrize("position", [0, 2, -1])
def test_deleting_an_entry_is_detected(db, log, position):
    owner = log[0]
    entry = entries_of(db, owner.public_id)[position]
    db.execute(delete(AuditEntry).where(AuditEntry.id == entry.id))
    assert problem(db, owner).startswith("missing entry")


def test_cutting_entries_from_the_end_is_detected(db, log):
    owner = log[0]
    entries = entries_of(db, owner.public_id)
    db.execute(delete(AuditEntry).where(AuditEntry.id.in_([e.id for e in entries[-2:]])))
    found = problem(db, owner)
    assert found.startswith("missing entry") and "2 entries cut from the end" in found


def test_swapping_two_entries_is_named_as_a_reordering(db, log):
    owner = log[0]
    entries = entries_of(db, owner.public_id)
    (first, first_seq), (second, second_seq) = [(e.id, e.seq) for e in entries[2:4]]
    # Three steps, because (log_key, seq) is unique at every statement.
    db.execute(update(AuditEntry).where(AuditEntry.id == first).values(seq=-1))
    db.execute(update(AuditEntry).where(AuditEntry.id == second).values(seq=first_seq))
    db.execute(update(AuditEntry).where(AuditEntry.id == first).values(seq=second_seq))
    assert problem(db, owner) == (
        f"reordered entry: the entry at seq {first_seq} (id {second}) "
        f"was written as seq {second_seq}"
    )


def test_two_entries_cannot_share_a_place_in_one_log(db, log):
    from sqlalchemy.exc import IntegrityError

    owner = log[0]
    entries = entries_of(db, owner.public_id)
    with pytest.raises(IntegrityError), db.begin_nested():
        db.execute(
            update(AuditEntry).where(AuditEntry.id == entries[1].id).values(seq=entries[0].seq)
        )


def test_appends_sign_a_checkpoint_every_interval(db, keys):
    CheckpointSigner(keys, every=5).attach(db)
    owner = make.agency(db, keys)
    for n in range(11):
        record(db, AuditTag.AUDIT_EXPORTED, agency_id=owner.id, detail={"n": n}, at=AT)
    db.flush()
    signed = db.exec(
        select(AuditCheckpoint.seq)
        .where(AuditCheckpoint.log_key == owner.public_id)
        .order_by(AuditCheckpoint.seq)
    ).all()
    assert signed == [5, 10]
    report = verify.verify_log(db, owner.public_id)
    assert report.ok and report.checkpoints == 2


def test_the_default_interval_is_1000_entries(db, keys):
    assert CHECKPOINT_EVERY == 1000 and CheckpointSigner(keys).every == 1000
    CheckpointSigner(keys).attach(db)
    owner = make.agency(db, keys)
    head = db.get(AuditHead, owner.public_id)
    for n in range(1000 - head.last_seq):
        record(db, AuditTag.AUDIT_EXPORTED, agency_id=owner.id, detail={"n": n}, at=AT)
    db.flush()
    assert db.exec(
        select(AuditCheckpoint.seq).where(AuditCheckpoint.log_key == owner.public_id)
    ).all() == [1000]


def test_without_a_signer_the_next_append_that_has_one_catches_up(db, keys):
    owner = make.agency(db, keys)
    for n in range(7):
        record(db, AuditTag.AUDIT_EXPORTED, agency_id=owner.id, detail={"n": n}, at=AT)
    db.flush()
    assert not db.exec(select(AuditCheckpoint)).all()
    CheckpointSigner(keys, every=5).attach(db)
    entry = record(db, AuditTag.AUDIT_EXPORTED, agency_id=owner.id, at=AT)
    db.flush()
    assert db.exec(select(AuditCheckpoint.seq)).all() == [entry.seq]


def test_the_node_log_is_never_checkpointed(db, keys):
    CheckpointSigner(keys, every=1).attach(db)
    for _ in range(3):
        record(db, AuditTag.SIGN_IN_FAILED, agency_id=None, subject="nobody", at=AT)
    db.flush()
    assert not db.exec(select(AuditCheckpoint).where(AuditCheckpoint.log_key == NODE_LOG)).all()
    assert verify.verify_log(db, NODE_LOG).ok


def test_an_on_demand_checkpoint_covers_its_own_entry(db, keys, log):
    owner = log[0]
    checkpoint = audit_log.checkpoint_log(db, owner, keys=keys, actor=None, at=AT)
    db.flush()
    last = entries_of(db, owner.public_id)[-1]
    assert last.tag == AuditTag.AUDIT_CHECKPOINTED
    assert (checkpoint.seq, checkpoint.entry_hash) == (last.seq, last.entry_hash)
    report = verify.verify_log(db, owner.public_id)
    assert report.ok and report.checkpoints == 1


CHECKPOINT_EDITS = {
    "seq": lambda cp: {"seq": cp.seq - 1},
    "entry_hash": lambda cp: {"entry_hash": "a" * 64},
    "at": lambda cp: {"at": cp.at + timedelta(seconds=1)},
    "key_id": lambda cp: {"key_id": "not-a-key"},
    "signature": lambda cp: {"signature": "A" * 86 + "=="},
    "log_key": lambda cp: {"log_key": "tampered"},
}


@pytest.mark.parametrize("column", sorted(CHECKPOINT_EDITS))
def test_editing_a_checkpoint_is_detected(db, keys, log, column):
    owner = log[0]
    checkpoint = audit_log.checkpoint_log(db, owner, keys=keys, actor=None, at=AT)
    db.flush()
    db.execute(
        update(AuditCheckpoint)
        .where(AuditCheckpoint.id == checkpoint.id)
        .values(CHECKPOINT_EDITS[column](checkpoint))
    )
    assert problem(db, owner) is not None


def test_deleting_the_latest_checkpoint_is_detected(db, keys, log):
    owner = log[0]
    checkpoint = audit_log.checkpoint_log(db, owner, keys=keys, actor=None, at=AT)
    db.flush()
    db.execute(delete(AuditCheckpoint).where(AuditCheckpoint.id == checkpoint.id))
    assert problem(db, owner).startswith("missing checkpoint")


def test_a_tail_cut_with_its_head_rewound_below_a_signed_checkpoint_is_detected(db, keys, log):
    """A checkpoint is the agency's signed word that its log reached that seq: a log that
    now ends before it was cut short, however consistently its head was moved back."""
    owner = log[0]
    checkpoint = audit_log.checkpoint_log(db, owner, keys=keys, actor=None, at=AT)
    db.flush()
    kept = entries_of(db, owner.public_id)[:-2]
    db.execute(
        delete(AuditEntry).where(
            AuditEntry.log_key == owner.public_id, AuditEntry.seq > kept[-1].seq
        )
    )
    db.execute(
        update(AuditHead)
        .where(AuditHead.log_key == owner.public_id)
        .values(last_seq=kept[-1].seq, last_hash=kept[-1].entry_hash, checkpoint_seq=0)
    )
    found = problem(db, owner)
    assert found is not None and found.startswith("missing entry"), found
    assert f"seq {checkpoint.seq}" in found


def test_a_checkpoint_signed_by_another_agency_is_refused(db, keys, log):
    owner, partner, *_ = log
    theirs = audit_log.checkpoint_log(db, partner, keys=keys, actor=None, at=AT)
    ours = audit_log.checkpoint_log(db, owner, keys=keys, actor=None, at=AT)
    db.flush()
    db.execute(
        update(AuditCheckpoint)
        .where(AuditCheckpoint.id == ours.id)
        .values(key_id=theirs.key_id, signature=theirs.signature)
    )
    assert problem(db, owner) is not None


def test_verify_all_reports_every_log(db, log):
    record(db, AuditTag.SIGN_IN_FAILED, agency_id=None, subject="nobody", at=AT)
    db.flush()
    reports = {r.log_key: r for r in verify.verify_all(db)}
    assert NODE_LOG in reports and log[0].public_id in reports
    assert all(r.ok for r in reports.values())
    assert reports[log[0].public_id].line().startswith("OK ")


def test_entries_appended_while_verify_walks_are_left_for_the_next_run(db, log, monkeypatch):
    owner = log[0]
    monkeypatch.setattr(walk, "BATCH", 2)

    def append_meanwhile():
        record(db, AuditTag.AUDIT_EXPORTED, agency_id=owner.id, at=AT)
        db.flush()

    head = db.get(AuditHead, owner.public_id).last_seq
    report = verify.verify_log(db, owner.public_id, pause=append_meanwhile)
    assert report.ok, report.problem
    assert report.entries == head
    assert verify.verify_log(db, owner.public_id).entries > head


def test_an_audit_row_written_outside_record_is_caught(db, log):
    owner = log[0]
    head = db.get(AuditHead, owner.public_id)
    db.execute(
        text(
            "INSERT INTO audit_entry (agency_id, log_key, seq, prev_hash, entry_hash, tag, at,"
            " detail) VALUES (:a, :k, :s, :p, :h, 'forged', :at, '{}')"
        ),
        {
            "a": owner.id,
            "k": owner.public_id,
            "s": head.last_seq + 1,
            "p": head.last_hash,
            "h": "0" * 64,
            "at": AT.replace(tzinfo=None),
        },
    )
    assert problem(db, owner) == "1 entry beyond the log's head"


def test_lock_logs_takes_every_head_even_before_a_first_entry(db, keys):
    from portal.audit import lock_logs
    from portal.models import Agency

    fresh = Agency(
        name="Fresh Agency (synthetic)",
        kind="community",
        discipline="advocacy",
        node_id=make.agency(db, keys).node_id,
        created_at=AT,
    )
    db.add(fresh)
    db.flush()
    lock_logs(db, [fresh.id, None, fresh.id])
    head = db.get(AuditHead, fresh.public_id)
    assert (head.agency_id, head.last_seq, head.last_hash) == (fresh.id, 0, GENESIS_HASH)
    assert db.get(AuditHead, NODE_LOG) is not None


@pytest.fixture
def out_of_order(monkeypatch) -> list[tuple[list, list]]:
    """What `lock_order.taken_out_of_order` is told: (logs held, logs taken behind them)."""
    told: list[tuple[list, list]] = []
    monkeypatch.setattr(
        lock_order, "taken_out_of_order", lambda _db, held, taking: told.append((held, taking))
    )
    return told


def _two_agencies(db, keys):
    first, second = make.agency(db, keys), make.agency(db, keys)
    db.commit()  # the setup's own locks end here
    del db.info[lock_order.ALONE]  # checked from here on, as a request's transaction is
    return first.id, second.id


def test_a_log_taken_behind_a_later_one_is_reported_and_one_in_order_is_not(db, keys, out_of_order):
    from portal.audit import lock_logs

    low, high = _two_agencies(db, keys)
    lock_logs(db, [None])
    lock_logs(db, [low])
    lock_logs(db, [high, low])  # already held, or after: in order
    assert out_of_order == []
    db.commit()
    lock_logs(db, [high])
    lock_logs(db, [low, None])
    assert out_of_order == [([high], [None, low])]


def test_the_order_outlives_a_flush_but_not_the_transaction(db, keys, out_of_order):
    """A flush ends the transaction's copy of the heads, not its locks: a log taken after
    one is still behind it (the case page asks `takes_behind` to know whether to commit
    first, and was told no after a flush)."""
    from portal.audit import lock_logs

    low, high = _two_agencies(db, keys)
    lock_logs(db, [high])
    db.get(Agency, low).name = "Renamed Agency (synthetic)"
    db.flush()
    assert lock_order.takes_behind(db, [low])
    assert not lock_order.takes_behind(db, [high])
    db.commit()
    assert not lock_order.takes_behind(db, [low])
    lock_logs(db, [low])
    assert out_of_order == []


def test_rows_held_after_a_log_are_taken_out_of_order_unless_held_before_or_made_here(
    db, keys, out_of_order
):
    """The logs come last: a case held after one is reported; held before it (and read
    again after), or made by this transaction, it is not."""
    from portal.audit import lock_logs
    from portal.services import casework

    coordinating = make.agency(db, keys)
    case = make.mdt_case(db, coordinating)
    db.commit()
    del db.info[lock_order.ALONE]  # checked from here on, as a request's transaction is
    lock_logs(db, [coordinating.id])
    casework.held_case(db, case)
    assert out_of_order == [([coordinating.id], ["rows of mdt_case"])]
    db.commit()
    del out_of_order[:]
    casework.held_case(db, case)
    lock_logs(db, [coordinating.id])
    casework.held_case(db, case)
    db.commit()
    lock_logs(db, [coordinating.id])
    casework.held_case(db, make.mdt_case(db, coordinating))
    assert out_of_order == []


def test_a_transaction_alone_on_the_node_is_not_checked(db, keys, out_of_order):
    """The demo's seeding, a benchmark's build, a test's setup: one transaction that does
    what no request does, with nothing running beside it."""
    from portal.audit import lock_logs
    from portal.services import casework

    low, high = _two_agencies(db, keys)
    case = make.mdt_case(db, db.get(Agency, low))
    db.commit()
    lock_order.alone_on_the_node(db)
    lock_logs(db, [high])
    lock_logs(db, [low])
    casework.held_case(db, case)
    assert out_of_order == []


# As the product has it: the suite's own check replaces it in every test (conftest.py).
_SAID_IN_THE_LOG = lock_order.taken_out_of_order


def test_a_log_taken_out_of_order_is_said_in_the_nodes_log_by_agency_ids(caplog, monkeypatch):
    monkeypatch.delenv(lock_order.LOG_ORDER)  # as a node serves: said, and the work goes on
    with caplog.at_level("ERROR", logger=lock_order.__name__):
        _SAID_IN_THE_LOG(None, [7], [None, 3])
    (said,) = caplog.records
    assert said.getMessage() == (
        "audit logs locked out of order: the node's log, agency 3's log taken while holding "
        "agency 7's log (a deadlock is possible on PostgreSQL)"
    )
    assert said.stack_info  # where, for whoever maintains the code


def test_where_the_tests_start_nodes_a_log_taken_out_of_order_raises():
    with pytest.raises(lock_order.LogTakenOutOfOrder, match="agency 3's log taken while holding"):
        _SAID_IN_THE_LOG(None, [7], [3])


def _row(agency_id, n):
    from portal.audit import entry_values

    return entry_values(AuditTag.AUDIT_EXPORTED, agency_id=agency_id, detail={"n": n}, at=AT)


def test_a_batch_crossing_checkpoints_signs_each_once_and_verifies(db, keys):
    # Before: a checkpoint signed mid-batch ran a query, the query flushed, the flush
    # dropped the transaction's heads, and the rest of the batch reused their places.
    from portal.audit import record_many

    CheckpointSigner(keys, every=4).attach(db)
    owner, other = make.agency(db, keys), make.agency(db, keys)
    record(db, AuditTag.AUDIT_EXPORTED, agency_id=owner.id, detail={"first": True}, at=AT)
    record_many(db, [_row(agency, n) for n in range(7) for agency in (owner.id, other.id)])
    record_many(db, [_row(owner.id, n) for n in range(5)])
    record(db, AuditTag.AUDIT_EXPORTED, agency_id=owner.id, detail={"last": True}, at=AT)
    db.flush()
    for agency in (owner, other):
        entries = entries_of(db, agency.public_id)
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        signed = db.exec(
            select(AuditCheckpoint.seq).where(AuditCheckpoint.log_key == agency.public_id)
        ).all()
        assert signed == [seq for seq in range(4, len(entries) + 1, 4)]
        report = verify.verify_log(db, agency.public_id)
        assert report.ok and report.checkpoints == len(signed)
    head = db.get(AuditHead, owner.public_id)
    assert head.last_seq == len(entries_of(db, owner.public_id))


def test_a_batch_is_hashed_exactly_like_single_appends(db, keys):
    from portal.audit import record_many

    single, batched = make.agency(db, keys), make.agency(db, keys)
    for n in range(3):
        record(db, AuditTag.AUDIT_EXPORTED, agency_id=single.id, detail={"n": n}, at=AT)
    record_many(db, [_row(batched.id, n) for n in range(3)])
    db.flush()
    ones, many = (
        [e for e in entries_of(db, agency.public_id) if e.tag == AuditTag.AUDIT_EXPORTED]
        for agency in (single, batched)
    )
    assert [(e.seq, e.detail) for e in ones] == [(e.seq, e.detail) for e in many]
    for entry in many:
        assert entry.entry_hash == chain.entry_hash(entry)
    assert verify.verify_log(db, batched.public_id).ok


def test_a_single_append_writes_the_same_bytes_as_before_the_core_path(db):
    """record() now writes through the prebuilt batch that record_many() uses; these two
    node-log entries are the rows the ORM path wrote for the same calls (pinned from it),
    column for column and hash for hash."""
    at = AT.replace(microsecond=891011)
    db.execute(delete(AuditEntry).where(AuditEntry.log_key == NODE_LOG))
    db.execute(delete(AuditHead).where(AuditHead.log_key == NODE_LOG))
    first = record(
        db,
        AuditTag.SIGN_IN_FAILED,
        agency_id=None,
        subject="nobody \u00e9 \u2028",
        detail={"b": 1, "a": 'x"y'},
        at=at,
        client_address="127.0.0.1",
    )
    second = record(
        db,
        AuditTag.DISCLOSURE_WITHHELD,
        agency_id=None,
        at=at,
        disclosure=DisclosureFacts(
            case_ref="MDT-2026-0001",
            client_ref="c-ref",
            section_key="medical",
            purpose="mdt_case_review",
            decision="withheld",
            gate="consent",
            policy_rule="p, x",
            viewer_role="advocate",
        ),
    )
    rows = entries_of(db, NODE_LOG)
    assert [(r.seq, r.entry_hash) for r in rows] == [
        (first.seq, first.entry_hash),
        (second.seq, second.entry_hash),
    ]
    assert [r.entry_hash for r in rows] == [  # pinned from the ORM path's rows
        "df33aebcb9775c92e15db18debf687c221bb4b58f0ccf05595b0ebce2f6621c3",
        "4d7452761c6879c7abe64284de28b9b2d6a73700bb1283eeb6767e9c16e71d83",
    ]
    assert rows[0].detail == '{"a":"x\\"y","b":1}'
    assert rows[0].prev_hash == GENESIS_HASH and rows[1].prev_hash == rows[0].entry_hash
    assert [r.format for r in rows] == [2, 2]
    assert [chain.entry_hash(r) for r in rows] == [r.entry_hash for r in rows]


def test_a_single_append_runs_each_statement_once_not_as_a_batch(db, keys, log):
    """psycopg runs an executemany as a pipeline, whose opening and closing cost waits on
    the server of their own: a single append's insert and head move each paid two more
    than the statement (issue 15: single appends within 2x of the driver's floor). A page's
    entries still go as one batch."""
    owner, _partner, viewer, client = log
    sent: list[tuple[str, bool]] = []

    def note(_conn, _cursor, statement, _params, _context, executemany):
        if statement.lstrip().upper().startswith(("INSERT INTO AUDIT_ENTRY", "UPDATE AUDIT_HEAD")):
            sent.append((statement.split()[0].upper(), executemany))

    connection = db.connection()
    event.listen(connection, "before_cursor_execute", note)
    try:
        disclosure(db, owner, viewer, client, n=10)
        assert sent == [("INSERT", False), ("UPDATE", False)]
        sent.clear()
        chain.append_rows(
            db, owner.id, [{"tag": "audit:log:exported", "at": AT, "detail": "{}"}] * 3
        )
        assert sent == [("INSERT", True), ("UPDATE", False)]
    finally:
        event.remove(connection, "before_cursor_execute", note)
    assert verify.verify_log(db, owner.public_id).ok
