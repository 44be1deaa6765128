"""`portal roster export|import|entry|sign|list|tell-owed`: the MDT's signed roster (issue 16),
and what this node owes the other nodes in it."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from portal import untrusted_json
from portal.cli import errors
from portal.cli.database import chosen, local_time, mdt_zone, node_settings, open_engine
from portal.cli.errors import CommandError
from portal.cli.parsing import command, group
from portal.cli.setup import find_agency
from portal.db import unit_of_work
from portal.edge_checks import unstorable_field
from portal.federation.roster import MAX_ROSTER_BYTES


def add_commands(commands) -> None:
    roster_cmd = group(commands, "roster", "the MDT's signed roster", dest="roster_command")
    export = command(
        roster_cmd,
        "export",
        "print the signed roster this node holds",
        description="Print the signed roster in force on this node (the same on every node), "
        "or write it to a file. Its signature's kid is the coordinating agency's key id, "
        "which a new node's operator confirms with the coordinating agency and gives to "
        "`roster import --coordinator-key`.",
        run=cmd_export,
    )
    export.add_argument("--out", help="write to this file instead of standard output")
    imported = command(
        roster_cmd,
        "import",
        "take a signed roster into force on this node (its signature is checked first)",
        description="Take a signed roster into force: the signature is checked first (by the "
        "coordinating agency's current key in the roster held now, or, on a node's first "
        "import, by the key given with --coordinator-key), then that it is newer than the "
        "one held and agrees with the keys this node holds. Exit status: 0 imported (or "
        "already held); 1 the signature does not verify or is not by a trusted key; 2 the "
        "file cannot be read as a roster; 4 refused (older than the roster held, or it "
        "disagrees with this node's agencies).",
        run=cmd_import,
    )
    imported.add_argument("file", help="the signed roster JSON, or - for standard input")
    imported.add_argument(
        "--coordinator-key",
        help="the coordinating agency's key id, from its operator: needed for the first roster",
    )
    entry = command(
        roster_cmd,
        "entry",
        "print this node's agencies as roster entries, for the coordinating agency",
        run=cmd_entry,
    )
    entry.add_argument("agencies", nargs="*", help="agency names or public ids (default: all)")
    entry.add_argument("--node", required=True, help="this node's address, e.g. https://host")
    entry.add_argument("--mou-signed", help="the date the agencies signed the MOU (YYYY-MM-DD)")
    entry.add_argument("--review-due", help="when the MOU is next due for review (YYYY-MM-DD)")
    sign = command(
        roster_cmd,
        "sign",
        "sign the next roster with the coordinating agency's key (on its node)",
        description="Sign the next version of the roster from a file of member entries (a "
        "JSON list; `roster entry` on each node prints them) and take it into force here. "
        "This node's agencies are refreshed from the keys it holds. Send the output to "
        "every member node for `roster import`.",
        run=cmd_sign,
    )
    sign.add_argument("members", help="JSON file: a list of member entries")
    sign.add_argument("--coordinator", required=True, help="the coordinating agency")
    sign.add_argument("--node", required=True, help="this node's address, e.g. https://host")
    sign.add_argument("--out", help="write the signed roster to this file")
    command(roster_cmd, "list", "the roster's members, their nodes and MOUs", run=cmd_list)
    command(
        roster_cmd,
        "tell-owed",
        "tell owners elsewhere the case participants and status their nodes missed",
        description="The coordinating node tells every owner elsewhere who takes part in a "
        "case and whether it is open; an owner whose node did not answer is owed it (and an "
        "agency's node owes the coordinating node a notice when a survivor revokes a release "
        "there). This tells every owed node now (a case's page also does, at most every five "
        "minutes). Exit status: 0 nothing is owed any more; 1 some nodes still did not answer.",
        run=cmd_tell_owed,
    )


def _read(name: str) -> bytes:
    try:
        if name == "-":
            return sys.stdin.buffer.read(MAX_ROSTER_BYTES + 1)
        with Path(name).open("rb") as handle:
            return handle.read(MAX_ROSTER_BYTES + 1)
    except OSError as error:
        raise CommandError(
            f"cannot read {name}: {error.strerror or error}", errors.BAD_INPUT
        ) from None


def _write(text: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    try:
        Path(out).write_text(text)
    except OSError as error:
        raise CommandError(
            f"cannot write {out}: {error.strerror or error}", errors.BAD_INPUT
        ) from None


def _roster_failure(error, *, done: str = "imported") -> CommandError:
    from portal.federation.roster import RosterConflict, RosterSignatureError

    if isinstance(error, RosterSignatureError):
        status = errors.NEGATIVE
    elif isinstance(error, RosterConflict):
        status = errors.REFUSED
    else:
        status = errors.BAD_INPUT
    # `done` names what did not happen: an operator signing is told nothing was signed.
    return CommandError(f"roster not {done}: {error}", status)


def cmd_export(args: argparse.Namespace) -> int:
    from portal.federation import membership

    with unit_of_work(open_engine(chosen())) as db:
        found = membership.held(db)
        if found is None:
            raise CommandError(
                "this node holds no roster; `portal roster import FILE` takes one, or "
                "`portal roster sign` makes one on the coordinating agency's node",
                errors.REFUSED,
            )
        _write(found[0].envelope, args.out)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from portal.federation import membership
    from portal.federation.roster import RosterError

    data = _read(args.file)
    engine = open_engine(chosen())
    settings = node_settings(engine)
    try:
        with unit_of_work(engine) as db:
            result = membership.import_roster(
                db, data, pin=args.coordinator_key, at=settings.clock()
            )
    except RosterError as error:
        raise _roster_failure(error) from None
    if result.unchanged:
        print(f"roster version {result.version} is already in force here")
    else:
        print(
            f"roster version {result.version} in force: {result.members} member agencies, "
            f"{result.here} hosted on this node"
        )
    return 0


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option}: expected a date (YYYY-MM-DD)", errors.BAD_INPUT) from None


def cmd_entry(args: argparse.Namespace) -> int:
    from portal.federation import membership
    from portal.federation.roster import Mou, RosterError

    signed_on = _day(args.mou_signed, "--mou-signed")
    review_due = _day(args.review_due, "--review-due")
    if (signed_on is None) != (review_due is None):
        raise CommandError("give --mou-signed and --review-due together", errors.BAD_INPUT)
    mou = Mou(signed_on, review_due) if signed_on else None
    with unit_of_work(open_engine(chosen())) as db:
        agencies = (
            [find_agency(db, name) for name in args.agencies]
            if args.agencies
            else membership.local_agencies(db)
        )
        try:
            entries = [
                membership.member_entry(db, agency, node=args.node, mou=mou) for agency in agencies
            ]
        except RosterError as error:
            raise CommandError(str(error), errors.BAD_INPUT) from None
        print(json.dumps(membership.entries_json(entries), indent=2, ensure_ascii=False))
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    from portal.federation import membership
    from portal.federation.roster import RosterError

    try:
        entries = untrusted_json.loads(_read(args.members))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CommandError(f"{args.members} is not JSON: {error}", errors.BAD_INPUT) from None
    except ValueError:
        raise CommandError(
            f"{args.members} holds a number too long or nesting too deep to read",
            errors.BAD_INPUT,
        ) from None
    if not isinstance(entries, list):
        raise CommandError(f"{args.members}: expected a JSON list of entries", errors.BAD_INPUT)
    if not entries:
        # Signed, it put in force a roster of the coordinator alone: every partner gone.
        raise CommandError(
            f"{args.members} lists no member: a roster names every agency of the MDT besides "
            "the coordinator (`portal roster list` shows the one in force)",
            errors.BAD_INPUT,
        )
    if (where := unstorable_field(entries)) is not None:
        raise CommandError(
            f"{args.members}: entry {where} holds text no database can store (a NUL or a lone "
            "surrogate)",
            errors.BAD_INPUT,
        )
    engine = open_engine(chosen())
    settings = node_settings(engine)
    try:
        with unit_of_work(engine) as db:
            coordinator = find_agency(db, args.coordinator)
            signed = membership.sign_roster(
                db,
                coordinator,
                entries,
                node=args.node,
                keys=settings.key_wrapper(),
                at=settings.clock(),
            )
            # Written before the new version is taken into force: a file that cannot be
            # written leaves the roster in force as it was.
            _write(signed.to_json(), args.out)
    except RosterError as error:
        raise _roster_failure(error, done="signed") from None
    print(
        f"roster version {signed.roster.version} signed with {signed.key_id}: "
        f"{len(signed.roster.members)} members",
        file=sys.stderr,
    )
    if not any(k.key_id == signed.key_id for k in signed.roster.coordinator.current_keys):
        print(
            f"a handover: signed with the retired key {signed.key_id}, which every node "
            "trusts now and no longer trusts once it imports this roster. Import it on "
            "every node, then sign the next roster (this command again): that one is "
            "signed with the current key, the one a node joining the MDT pins.",
            file=sys.stderr,
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from portal.federation import membership

    with unit_of_work(open_engine(chosen())) as db:
        roster, rows = membership.members(db)
        if roster is None:
            print("this node holds no roster")
            return 0
        issued = local_time(roster.issued_at, mdt_zone())
        print(f"roster version {roster.version}, issued {issued}")
        for row in rows:
            member = row.member
            mou = (
                f"MOU signed {member.mou.signed_on}, review due {member.mou.review_due}"
                if member.mou
                else "no MOU recorded"
            )
            flags = " (coordinating)" if row.coordinating else ""
            flags += " (hosted here)" if row.hosted_here else ""
            print(
                f"{member.name}{flags}\t{member.agency}\t{member.kind_label}\t{member.node}\t"
                f"{len(member.current_keys)} current key(s)\t{mou}"
            )
    return 0


def cmd_tell_owed(args: argparse.Namespace) -> int:
    from portal.federation import links
    from portal.federation.transport import Federation

    engine = open_engine(chosen())
    settings = node_settings(engine)
    federation = Federation(
        timeout_seconds=settings.federation_timeout_ms / 1000,
        window_seconds=settings.federation_window_seconds,
        clock=settings.clock,
    )
    try:
        with unit_of_work(engine) as db:
            told, still = links.tell_owed(
                db,
                keys=settings.key_wrapper(),
                federation=federation,
                at=settings.clock(),
                commit=db.commit,  # no node is waited on while a log is held
            )
    finally:
        federation.close()
    print(f"told {told} owner(s)")
    if still:
        print(f"still owed, their nodes did not answer: {', '.join(sorted(set(still)))}")
        return errors.NEGATIVE
    return 0
