"""`portal consent verify FILE`, `portal keys rotate AGENCY`, `portal keys list` (issue 4),
`portal keys reseal`, `portal keys rotate-data AGENCY`, `portal keys data`,
`portal keys erase-data AGENCY KEY_ID`."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from consent.signing import MAX_ENVELOPE_BYTES
from portal.cli import errors
from portal.cli import kek as kek_commands
from portal.cli.asking import confirmed
from portal.cli.database import chosen, local_time, mdt_zone, node_settings, open_engine
from portal.cli.parsing import command, group
from portal.cli.setup import find_agency
from portal.crypto import CONFIRM_HELD_SECONDS
from portal.db import unit_of_work
from portal.errors import Invalid
from portal.settings import utc_now

# Exit statuses of `portal consent verify`: a script tells a bad release from a crash.
VALID, NOT_VALID, UNREADABLE, COULD_NOT_RUN = 0, 1, 2, errors.COULD_NOT_RUN


def add_commands(commands) -> None:
    consent_cmd = group(commands, "consent", "consent releases", dest="consent_command")
    verify = command(
        consent_cmd,
        "verify",
        "verify a signed release file against this node's keys and revocations",
        description="Verify a signed release file against this node's keys and revocations. "
        "Exit status: 0 valid and in effect; 1 not valid or not in effect (bad signature, "
        "unknown key, changed field, expired, revoked, not yet effective); 2 the file cannot "
        "be read as a signed release; 3 the check could not run (the database).",
        run=cmd_consent_verify,
    )
    verify.add_argument("file", help="the signed release JSON, or - for standard input")

    keys_cmd = group(commands, "keys", "agency signing and data keys", dest="keys_command")
    rotate = command(
        keys_cmd,
        "rotate",
        "give an agency a new signing key; the old one is retired but kept",
        run=cmd_keys_rotate,
    )
    rotate.add_argument("agency", help="agency name or public id")
    command(keys_cmd, "list", "every agency's public signing keys", run=cmd_keys_list)
    rotate_data = command(
        keys_cmd,
        "rotate-data",
        "give an agency a new data key for what it seals from now on",
        description="Give an agency a new data key: everything its staff save from now on "
        "is sealed under it. The old key is retired but kept, since it still opens the "
        "records sealed before; `portal keys reseal` then seals them again under the new "
        "key, and `portal keys data` shows how many each key still seals.",
        run=cmd_keys_rotate_data,
    )
    rotate_data.add_argument("agency", help="agency name or public id")
    command(
        keys_cmd,
        "data",
        "every agency's data keys and how many records each still seals",
        run=cmd_keys_data,
    )
    erase_data = command(
        keys_cmd,
        "erase-data",
        "erase a retired data key of an agency that seals nothing any more",
        description="Erase (crypto-shred) a retired data key of an agency: its row, wrapped "
        "under the node's KEK, is deleted, and the erasure written to the agency's log. "
        "Refused while it is the agency's current key or still seals any record (`portal "
        "keys reseal` moves them onto the current key; `portal keys data` says which keys "
        "may be erased). Asks first: type the agency's name, or give --yes. There is no "
        "undoing it: what the key sealed opens only from a backup taken before, with the "
        "secrets file of then. Restart the node's processes afterwards, so that none holds "
        "it in memory.",
        run=cmd_keys_erase_data,
    )
    erase_data.add_argument("agency", help="agency name or public id")
    erase_data.add_argument("key_id", metavar="KEY_ID", help="the key's id (`portal keys data`)")
    erase_data.add_argument("--yes", action="store_true", help="do not ask: there is no undoing it")
    reseal = command(
        keys_cmd,
        "reseal",
        "seal again, each for its place and under its agency's current data key, every "
        "survivor record still sealed the old way or under a retired key",
        description="Seal again every record of this node still sealed with its agency's "
        "data key alone (section versions, client identities, screenings and their "
        "amendments, risk screens and household members) for its place, so that one moved "
        "onto another survivor's row no longer opens there; every record sealed under "
        "a data key since retired (`portal keys rotate-data`) under its agency's current "
        "one; and every consent release and revocation still kept in clear (written before "
        "their documents were sealed). Batches of --batch records, each "
        "one transaction: stopped at any point, nothing is lost; run it again to finish. "
        "Prints, per kind, how many were re-sealed and how many were already. Exit status "
        "1: some records open for no place here (moved or damaged); they are left as they "
        "are and counted.",
        run=cmd_keys_reseal,
    )
    reseal.add_argument(
        "--batch", type=int, default=200, help="records per transaction (1 to 10000)"
    )
    kek_commands.add_commands(keys_cmd)  # rotate-kek, rewrap, forget-previous-kek


def _read_input(name: str) -> bytes:
    # One byte past the limit is enough for the library to report "too large".
    if name == "-":
        return sys.stdin.buffer.read(MAX_ENVELOPE_BYTES + 1)
    with Path(name).open("rb") as handle:
        return handle.read(MAX_ENVELOPE_BYTES + 1)


def cmd_consent_verify(args: argparse.Namespace) -> int:
    from portal.federation import membership
    from portal.services import release_documents

    try:
        data = _read_input(args.file)
    except OSError as error:
        print(f"error: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
        return UNREADABLE
    tz = mdt_zone()  # the verdict dates the release as the node's staff read it
    engine = open_engine(chosen())
    keys = node_settings(engine).key_wrapper()  # the stored releases are sealed
    with unit_of_work(engine) as db:
        try:
            report = release_documents.verify_upload(
                db,
                data,
                keys=keys,
                at=utc_now(),
                tz=tz,
                elsewhere=membership.partner_keys(db),
                # The operator reads no survivor information: which fields of a file differ
                # from the stored release would confirm a guessed name, one try at a time.
                # The verify page names them to the agency's staff who may read the names.
                names_readable=lambda _row: False,
            )
        except Invalid as error:
            print(f"NOT VALID: {' '.join(error.errors.values())}", file=sys.stderr)
            return UNREADABLE
    print(("VALID: " if report.valid else "NOT VALID: ") + report.summary)
    print(f"  code: {report.code}")
    if report.field:
        print(f"  field: {report.field}")
    if report.tampered_fields:
        print(f"  changed since signing: {', '.join(report.tampered_fields)}")
    if report.key_id:
        print(f"  key: {report.key_id}")
    if report.release is not None:
        print(f"  language: {report.release.language}")
        if report.release.statements_sha256:
            print(f"  statements sha256: {report.release.statements_sha256}")
    if report.release is not None and not report.revocations_known:
        print("  note: made on another node; ask the disclosing agency about revocations")
    return VALID if report.valid else NOT_VALID


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from portal.services import keys

    engine = open_engine(chosen())
    settings = node_settings(engine)
    with unit_of_work(engine) as db:
        agency = find_agency(db, args.agency)
        new = keys.rotate_signing_key(
            db,
            agency,
            keys=settings.key_wrapper(),
            actor=None,
            at=settings.clock(),
        )
        print(f"{agency.name}: new signing key {new.key_id}; earlier keys retired, kept")
    return 0


def cmd_keys_rotate_data(args: argparse.Namespace) -> int:
    from portal.services import keys

    engine = open_engine(chosen())
    settings = node_settings(engine)
    with unit_of_work(engine) as db:
        agency = find_agency(db, args.agency)
        new = keys.rotate_data_key(
            db, agency, keys=settings.key_wrapper(), actor=None, at=settings.clock()
        )
        print(
            f"{agency.name}: new data key {new.key_id} seals what is saved from now on; "
            "earlier keys retired, kept to open what they sealed: run `portal keys reseal` "
            "to seal those records again under the new key"
        )
    return 0


def cmd_keys_data(args: argparse.Namespace) -> int:
    from portal.services import reseal

    tz = mdt_zone()
    with unit_of_work(open_engine(chosen())) as db:
        for use in reseal.data_key_uses(db):
            key = use.key
            state = f"retired {local_time(key.retired_at, tz)}" if key.retired_at else "in use"
            records = f"{use.records} record{'' if use.records == 1 else 's'}"
            line = (
                f"{use.agency.name}\t{key.key_id}\tcreated {local_time(key.created_at, tz)}\t"
                f"{state}\tseals {records}"
            )
            if use.erasable:  # no longer needed to read anything
                line += (
                    "\tmay be erased: portal keys erase-data "
                    f"{shlex.quote(use.agency.name)} {key.key_id}"
                )
            print(line)
    return 0


def cmd_keys_erase_data(args: argparse.Namespace) -> int:
    from portal.services import reseal

    engine = open_engine(chosen())
    settings = node_settings(engine)
    with unit_of_work(engine) as db:  # refused before anything is asked
        agency = find_agency(db, args.agency)
        name = agency.name
        with _refusal_in_one_line():
            reseal.erasable_data_key(db, agency, args.key_id)
    if not args.yes and not confirmed(
        f"Erase {args.key_id}, a retired data key of {name}? There is no undoing it: what it "
        "sealed opens then only from a backup taken before, with the secrets file of then.",
        answer=name,
    ):
        print("nothing was changed")
        return errors.NEGATIVE
    keys = settings.key_wrapper()
    with unit_of_work(engine) as db:  # checked again, under the agency's log
        agency = find_agency(db, args.agency)
        with _refusal_in_one_line():
            reseal.erase_data_key(
                db, agency, args.key_id, keys=keys, actor=None, at=settings.clock()
            )
    print(
        f"{name}: data key {args.key_id} erased; the node's running processes forget it "
        f"within {CONFIRM_HELD_SECONDS:g} seconds (backups taken before now still hold it)"
    )
    return errors.OK


@contextmanager
def _refusal_in_one_line() -> Iterator[None]:
    """A key refused for erasing, as one line: not such a key (bad input), or one still
    needed (refused)."""
    from portal.services import reseal

    try:
        yield
    except Invalid as error:
        raise errors.CommandError(" ".join(error.errors.values()), errors.BAD_INPUT) from None
    except reseal.KeyStillNeeded as error:
        raise errors.CommandError(str(error), errors.REFUSED) from None


def cmd_keys_list(args: argparse.Namespace) -> int:
    from portal.services import keys

    tz = mdt_zone()
    with unit_of_work(open_engine(chosen())) as db:
        for agency, key in keys.public_signing_keys(db):
            retired = f"retired {local_time(key.retired_at, tz)}" if key.retired_at else "in use"
            print(
                f"{agency.name}\t{key.key_id}\t{key.public_key}\t"
                f"created {local_time(key.created_at, tz)}\t{retired}"
            )
    return 0


def cmd_keys_reseal(args: argparse.Namespace) -> int:
    from nacl.exceptions import CryptoError

    from portal.services import reseal

    if not 1 <= args.batch <= 10_000:
        raise errors.CommandError(
            f"--batch {args.batch}: give a number of records from 1 to 10000", errors.BAD_INPUT
        )
    engine = open_engine(chosen())
    settings = node_settings(engine)
    # It reads the old form itself (crypto.open_unbound), so it converts it with
    # PORTAL_SEALED_BOUND_ONLY set too: the operator need not turn the setting off.
    keys = settings.key_wrapper()
    elsewhere = resealed = rekeyed = changed = 0
    for kind in reseal.KINDS:
        after, totals = 0, Counter()
        while True:
            try:
                with unit_of_work(engine) as db:
                    batch = reseal.reseal_batch(
                        db, kind, after=after, size=args.batch, keys=keys, at=settings.clock()
                    )
            except CryptoError:
                # The node's KEK opens its keys (checked before any command runs): this one
                # is wrapped under a KEK no longer given, or damaged.
                raise errors.CommandError(
                    "a data key of this node opens under no key-encryption key it is given, "
                    "so its records were not re-sealed (those re-sealed so far are kept): run "
                    "`portal keys rewrap`, which counts such keys and says which KEK to give "
                    "(PORTAL_KEK_PREVIOUS), then this again"
                ) from None
            totals.update(batch.counts)
            if batch.last_id is None:
                break
            after = batch.last_id
        elsewhere += totals[reseal.ELSEWHERE]
        resealed += totals[reseal.RESEALED]
        rekeyed += totals[reseal.REKEYED]
        changed += totals[reseal.CHANGED]
        line = (
            f"{kind.name}: {totals[reseal.RESEALED]} re-sealed for their place, "
            f"{totals[reseal.BOUND]} already"
        )
        if totals[reseal.REKEYED]:
            line += f", {totals[reseal.REKEYED]} sealed again under the current data key"
        if totals[reseal.SEALED]:
            line += f", {totals[reseal.SEALED]} kept in clear until now, sealed"
        if totals[reseal.CHANGED]:
            line += f", {totals[reseal.CHANGED]} saved by staff meanwhile (sealed for it)"
        if totals[reseal.ELSEWHERE]:
            line += f", {totals[reseal.ELSEWHERE]} open for no place here (left as they are)"
        print(line)
    if rekeyed:
        print(
            f"{rekeyed} records sealed under retired data keys were sealed again under their "
            "agency's current one: `portal keys data` shows what each key still seals"
        )
    if resealed and settings.sealed_bound_only:
        print(
            f"{resealed} records were still sealed the old way: with PORTAL_SEALED_BOUND_ONLY "
            "set they did not open until re-sealed; they open now"
        )
    if changed and not elsewhere:
        print(
            f"{changed} records were saved while this ran: run `portal keys reseal` again to "
            "confirm that every sealed record is bound to its place"
        )
    elif not elsewhere:
        print(
            "every sealed record is bound to its place: PORTAL_SEALED_BOUND_ONLY is set"
            if settings.sealed_bound_only
            else "every sealed record is bound to its place: you may now set "
            'PORTAL_SEALED_BOUND_ONLY=1 (or "sealed_bound_only": true in the secrets file)'
        )
    if elsewhere:
        print(
            f"error: {elsewhere} records open for no place here: moved from another row or "
            "damaged; left as they are; restore them from a backup",
            file=sys.stderr,
        )
        return errors.NEGATIVE
    return 0
