"""`portal keys rotate-kek`, `portal keys rewrap`, `portal keys forget-previous-kek`: a new
key-encryption key for the node, in steps that never leave a key the node cannot open."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter

from portal.cli import errors
from portal.cli.asking import confirmed
from portal.cli.database import chosen, node_settings, open_engine
from portal.cli.parsing import command
from portal.db import unit_of_work
from portal.settings import SecretsMissing, kek_from_environment, secrets_path_from

NEXT_AFTER_ROTATE = (
    "next: restart every process of this node (they read the secrets when they start), "
    "then run `portal keys rewrap`"
)


def add_commands(keys_cmd) -> None:
    """Added to `portal keys` (portal/cli/consent.py)."""
    command(
        keys_cmd,
        "rotate-kek",
        "give the node a new key-encryption key; the old one still opens until forgotten",
        description="Write a new random key-encryption key (KEK) into the secrets file as the "
        "current one, and keep the old one in the file's list of previous KEKs "
        "(previous_key_encryption_keys), which still open what they wrapped. The file is "
        "replaced whole (mode 0600). No database row changes. Then restart every process "
        "of the node and run `portal keys rewrap`. A node whose KEK is PORTAL_KEK is told "
        "what to set instead (and given a new key).",
        run=cmd_rotate_kek,
    )
    rewrap = command(
        keys_cmd,
        "rewrap",
        "wrap under the current key-encryption key everything still under a previous one",
        description="Wrap again under the node's current key-encryption key every agency "
        "key, staff TOTP secret and TOTP secret being enrolled that opens only under a "
        "previous one (PORTAL_KEK_PREVIOUS, or the secrets file's list). An agency at a "
        "time, batches of --batch secrets, each one transaction with one entry in the "
        "agency's log: stopped at any point, nothing is lost; run it again to finish. "
        "Prints, per kind, how many were re-wrapped and how many already were. Exit status "
        "1: some secrets remain that open under no key given, or only under a previous one; "
        "they are left as they are and counted.",
        run=cmd_rewrap,
    )
    rewrap.add_argument(
        "--batch", type=int, default=200, help="secrets per transaction (1 to 10000)"
    )
    forget = command(
        keys_cmd,
        "forget-previous-kek",
        "remove the previous key-encryption keys from the secrets file, once nothing needs them",
        description="Remove the previous key-encryption keys from the secrets file (replaced "
        "whole, mode 0600), after a question. Refused (exit status 4) while anything in the "
        "database still opens only under one of them: run `portal keys rewrap` first.",
        run=cmd_forget_previous_kek,
    )
    forget.add_argument("--yes", action="store_true", help="do not ask: there is no undoing it")


def _secrets_file_problem(error: Exception, path) -> errors.CommandError:
    if isinstance(error, SecretsMissing):
        return errors.CommandError(str(error))
    if isinstance(error, OSError) and error.strerror is None:  # one of ours: says what to do
        return errors.CommandError(str(error))
    if isinstance(error, OSError):
        owner = " (run it as the account that owns the file)"
        return errors.CommandError(
            f"cannot replace the secrets file {path}: {error.strerror}; nothing was changed"
            + (owner if isinstance(error, PermissionError) else "")
        )
    return errors.CommandError(f"cannot read the settings: {error}")


def cmd_rotate_kek(args: argparse.Namespace) -> int:
    from portal.services import kek

    if kek_from_environment():
        print(f"a new key you may use: {kek.new_kek()}")
        raise errors.CommandError(
            "the node's KEK is PORTAL_KEK, from the environment, which this command cannot "
            "change: set PORTAL_KEK to a new key (one is printed above) and "
            "PORTAL_KEK_PREVIOUS to the current one, restart every process of the node, then "
            "run `portal keys rewrap`"
        )
    engine = open_engine(chosen())
    node_settings(engine)  # the file's KEK opens this node's keys: never rotate another's
    path = secrets_path_from()
    try:
        kept = kek.rotate_secrets_file(path, new=kek.new_kek())
    except (SecretsMissing, OSError, ValueError) as error:
        raise _secrets_file_problem(error, path) from None
    print(
        f"{path} holds a new key-encryption key; the one it replaces still opens what it "
        f"wrapped ({kept} previous KEK{'s' if kept != 1 else ''} kept)"
    )
    print(NEXT_AFTER_ROTATE)
    return errors.OK


def _removal() -> str:
    """How the previous KEKs this node has are removed, once nothing needs them."""
    if kek_from_environment():
        return "unset PORTAL_KEK_PREVIOUS in the node's environment and restart its processes"
    how = "run `portal keys forget-previous-kek`"
    if os.environ.get("PORTAL_KEK_PREVIOUS"):
        how += ", and unset PORTAL_KEK_PREVIOUS in the node's environment"
    return how


def cmd_rewrap(args: argparse.Namespace) -> int:
    from portal.services import kek

    if not 1 <= args.batch <= 10_000:
        raise errors.CommandError(
            f"--batch {args.batch}: give a number of secrets from 1 to 10000", errors.BAD_INPUT
        )
    engine = open_engine(chosen())
    settings = node_settings(engine)
    keys = settings.key_wrapper()
    totals: Counter = Counter()
    position = kek.Position()
    while position is not None:
        with unit_of_work(engine) as db:
            batch = kek.rewrap_batch(db, position, size=args.batch, keys=keys, at=settings.clock())
        totals.update(batch.counts)
        position = batch.next
    for kind in kek.KINDS:
        line = (
            f"{kind.name}: {totals[kind.name, kek.REWRAPPED]} re-wrapped under the current "
            f"KEK, {totals[kind.name, kek.CURRENT]} already"
        )
        if totals[kind.name, kek.CHANGED]:
            line += f", {totals[kind.name, kek.CHANGED]} written meanwhile (not touched)"
        if totals[kind.name, kek.UNOPENED]:
            line += (
                f", {totals[kind.name, kek.UNOPENED]} open under no KEK given (left as they are)"
            )
        print(line)
    with unit_of_work(engine) as db:  # where things stand now, writes meanwhile included
        found = kek.survey(db, keys=keys)
    previous = sum(n for (_, outcome), n in found.items() if outcome == kek.PREVIOUS)
    unopened = sum(n for (_, outcome), n in found.items() if outcome == kek.UNOPENED)
    if not previous and not unopened:
        print(
            "every key is wrapped under the current KEK: you may now remove the previous KEK "
            f"({_removal()})"
            if keys.has_previous
            else "every key is wrapped under the current KEK (no previous KEK is given)"
        )
        return errors.OK
    if previous:
        print(
            f"error: {_keys(previous, 'is', 'are')} still wrapped under a previous KEK, written "
            "while this ran by a process started before `portal keys rotate-kek`: restart every "
            "process of the node, then run `portal keys rewrap` again",
            file=sys.stderr,
        )
    if unopened:
        print(
            f"error: {_keys(unopened, 'opens', 'open')} under no KEK this node is given "
            "(PORTAL_KEK, PORTAL_KEK_PREVIOUS or the secrets file), left as they are: give the "
            "KEK they were wrapped under in PORTAL_KEK_PREVIOUS and run again, or restore them "
            "from a backup",
            file=sys.stderr,
        )
    return errors.NEGATIVE


def _keys(count: int, one: str, many: str) -> str:
    return f"1 key {one}" if count == 1 else f"{count} keys {many}"


def cmd_forget_previous_kek(args: argparse.Namespace) -> int:
    from portal.services import kek

    if kek_from_environment():
        raise errors.CommandError(
            "the node's KEK is PORTAL_KEK, from the environment, not the secrets file: once "
            "`portal keys rewrap` says every key is wrapped under the current KEK, unset "
            "PORTAL_KEK_PREVIOUS in the node's environment and restart its processes"
        )
    engine = open_engine(chosen())
    settings = node_settings(engine)
    path = secrets_path_from()
    try:
        kept = kek.previous_in_file(path)
    except (SecretsMissing, OSError, ValueError) as error:
        raise _secrets_file_problem(error, path) from None
    if not kept:
        print(f"{path} holds no previous KEK: nothing to forget")
        _also_environment()
        return errors.OK
    with unit_of_work(engine) as db:
        found = kek.survey(db, keys=settings.key_wrapper())
    needing = Counter({kind: n for (kind, outcome), n in found.items() if outcome == kek.PREVIOUS})
    if needing:
        kinds = ", ".join(f"{kind} {n}" for kind, n in needing.items())
        raise errors.CommandError(
            f"{_keys(needing.total(), 'still opens', 'still open')} only under a previous KEK "
            f"({kinds}): run "
            "`portal keys rewrap` first; nothing was changed",
            errors.REFUSED,  # the keys' state, not a check asked for (1 is for checks)
        )
    if not args.yes and not confirmed(
        f"Remove {kept} previous key-encryption key{'s' if kept != 1 else ''} from {path}? "
        "There is no undoing it: "
        "database backups taken before `portal keys rewrap` then open only with a copy of "
        "the old secrets file."
    ):
        print("nothing was changed")
        return errors.NEGATIVE
    try:
        forgotten = kek.forget_previous_keks(path, checked=str(settings.secrets.key_encryption_key))
    except kek.SecretsFileChanged:
        raise errors.CommandError(
            f"{path} was given a new KEK while this ran: run `portal keys rewrap`, then this "
            "command again; nothing was changed",
            errors.REFUSED,
        ) from None
    except (SecretsMissing, OSError, ValueError) as error:
        raise _secrets_file_problem(error, path) from None
    print(
        f"removed {forgotten} previous KEK{'s' if forgotten != 1 else ''} from {path}: "
        "restart every process of the node so that none holds it any longer"
    )
    _also_environment()
    return errors.OK


def _also_environment() -> None:
    if os.environ.get("PORTAL_KEK_PREVIOUS"):
        print("PORTAL_KEK_PREVIOUS is set too: unset it in the node's environment")
