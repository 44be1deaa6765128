"""Completeness and consistency checks on a release, naming every problem at once."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from consent.document import STATEMENT_KEYS, Capacity, DateExpiry, Release, Signer

# Signer rule for minors. The form decides, in `second_signer_required`, whether the law
# needs a parent, guardian or custodian to sign alongside (or instead of) the client. The
# library then holds the document to that decision:
#
# - when a second signer is required, one must be recorded;
# - for a minor whose form requires a second signer, at least one signer must sign in a
#   capacity other than `self` (parent, legal guardian or custodian by court order);
# - a `parent` signs only for a minor; an adult signs as `self` or through a legal guardian
#   or a custodian appointed by a court.
#
# When the form does not require a second signer, a minor signing as `self` is valid: some
# laws let minors consent on their own, and that is the form's call, not the library's.

BLANKET_RECIPIENTS = frozenset({"*", "all", "any", "everyone", "anyone", "all agencies"})
AGENCY_KINDS = frozenset({"community", "system"})
# A pragmatic BCP-47 shape check (language, then subtags); the form offers a fixed list anyway.
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")

STATEMENT_NAMES = {
    "revocation": "the right to revoke at any time, and how",
    "no_conditioning": "that services do not depend on signing",
    "redisclosure": "what a recipient may not redisclose",
    "compelled_disclosure": "that a system-based recipient may be compelled to disclose",
}


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


def normalise_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def remaining_capacities(excluded_capacities: Iterable[Capacity | str]) -> tuple[Capacity, ...]:
    """Capacities that may still sign on the client's behalf once some are ruled out.

    For instance when the parent is recorded as not safe to involve, the form offers a legal
    guardian or a custodian by court order instead.
    """
    excluded = {Capacity(capacity) for capacity in excluded_capacities}
    return tuple(c for c in Capacity if c is not Capacity.SELF and c not in excluded)


def validate(
    release: Release,
    *,
    section_keys: Collection[str],
    agency_kinds: Mapping[str, str],
    excluded_signers: Iterable[str] = (),
) -> list[Problem]:
    """Every missing or contradictory element of the release; an empty list means valid.

    `agency_kinds` maps each roster agency id to "community" or "system". `excluded_signers`
    are the names of persons recorded on the case as a suspected exploiter or not safe to
    involve.
    """
    problems: list[Problem] = []
    problems += _identity_problems(release, agency_kinds)
    problems += _recipient_problems(release, agency_kinds)
    problems += _section_problems(release, section_keys)
    problems += _period_problems(release)
    problems += _statement_problems(release)
    problems += _signer_problems(release, {normalise_name(n) for n in excluded_signers})
    problems += _record_problems(release)
    return problems


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def _identity_problems(release: Release, agency_kinds: Mapping[str, str]) -> list[Problem]:
    problems = []
    if _blank(release.release_id):
        problems.append(Problem("release_id", "The release has no identifier."))
    if _blank(release.client_ref):
        problems.append(Problem("client_ref", "The release does not say which client it is for."))
    if _blank(release.disclosing_agency):
        problems.append(
            Problem("disclosing_agency", "The release does not name the disclosing agency.")
        )
    elif release.disclosing_agency not in agency_kinds:
        problems.append(Problem("disclosing_agency", "The disclosing agency is not on the roster."))
    return problems


def _recipient_problems(release: Release, agency_kinds: Mapping[str, str]) -> list[Problem]:
    if not release.recipients:
        return [Problem("recipients", "The release names no recipient agency.")]
    problems = []
    seen: set[str] = set()
    for index, recipient in enumerate(release.recipients):
        field = f"recipients[{index}]"
        if recipient.strip().casefold() in BLANKET_RECIPIENTS:
            problems.append(
                Problem(
                    field, f"{recipient!r} is a blanket recipient; name each agency one by one."
                )
            )
        elif recipient == release.disclosing_agency:
            problems.append(Problem(field, "The disclosing agency cannot also be a recipient."))
        elif agency_kinds.get(recipient) not in AGENCY_KINDS:
            problems.append(Problem(field, f"{recipient} is not an agency on the roster."))
        if recipient in seen:
            problems.append(Problem(field, f"{recipient} is named more than once."))
        seen.add(recipient)
    return problems


def _section_problems(release: Release, section_keys: Collection[str]) -> list[Problem]:
    if not release.sections:
        return [Problem("sections", "The release names no section to share.")]
    problems = []
    seen: set[str] = set()
    for index, section in enumerate(release.sections):
        field = f"sections[{index}]"
        if section not in section_keys:
            problems.append(Problem(field, f"{section} is not a known section."))
        if section in seen:
            problems.append(Problem(field, f"{section} is listed more than once."))
        seen.add(section)
    return problems


def _period_problems(release: Release) -> list[Problem]:
    expiry = release.expiry
    if isinstance(expiry, DateExpiry):
        if expiry.at <= release.effective_at:
            return [Problem("expiry.at", "The release must end after it starts.")]
        return []
    problems = []
    if _blank(expiry.event):
        problems.append(Problem("expiry.event", "The ending event is not described."))
    if expiry.latest_at is None:
        problems.append(
            Problem(
                "expiry.latest_at",
                "An event expiry needs a latest date as well, so the release is never open-ended.",
            )
        )
    elif expiry.latest_at <= release.effective_at:
        problems.append(Problem("expiry.latest_at", "The latest end date must be after the start."))
    return problems


def _statement_problems(release: Release) -> list[Problem]:
    # All four statements are always required: the form is the same whichever recipients
    # are named, and a community recipient may later be joined by a system one.
    return [
        Problem(f"statements.{key}", f"The statement on {STATEMENT_NAMES[key]} is missing.")
        for key in STATEMENT_KEYS
        if _blank(getattr(release.statements, key))
    ]


def _signer_problems(release: Release, excluded: set[str]) -> list[Problem]:
    problems = []
    signers: list[tuple[str, Signer]] = []
    if release.signer is None:
        problems.append(Problem("signer", "Nobody is recorded as signing the release."))
    else:
        signers.append(("signer", release.signer))
    if release.second_signer is not None:
        signers.append(("second_signer", release.second_signer))
    elif release.second_signer_required:
        problems.append(
            Problem(
                "second_signer",
                "A second signer (parent, legal guardian or custodian) is required but missing.",
            )
        )
    for field, signer in signers:
        if _blank(signer.name):
            problems.append(Problem(f"{field}.name", "The signer's name is missing."))
        elif normalise_name(signer.name) in excluded:
            problems.append(
                Problem(
                    field,
                    "This person is recorded on the case as not safe to involve and can never "
                    "sign a release for this client.",
                )
            )
        if signer.capacity is Capacity.PARENT and not release.client_is_minor:
            problems.append(
                Problem(
                    f"{field}.capacity",
                    "A parent signs only for a minor; an adult signs for themselves or through "
                    "a legal guardian or court-appointed custodian.",
                )
            )
    if len(signers) == 2:
        first, second = signers[0][1], signers[1][1]
        if not _blank(first.name) and normalise_name(first.name) == normalise_name(second.name):
            problems.append(
                Problem("second_signer", "The second signer must be a different person.")
            )
        if (
            release.client_is_minor
            and release.second_signer_required
            and all(signer.capacity is Capacity.SELF for _, signer in signers)
        ):
            problems.append(
                Problem(
                    "second_signer.capacity",
                    "For this minor a parent, legal guardian or custodian must sign; nobody "
                    "signs in that capacity.",
                )
            )
    return problems


def _record_problems(release: Release) -> list[Problem]:
    problems = []
    if _blank(release.language):
        problems.append(Problem("language", "The language of the form is not recorded."))
    elif not _LANGUAGE_TAG.match(release.language or ""):
        problems.append(
            Problem("language", f"{release.language!r} is not a language tag like en or es.")
        )
    witness = release.witness
    if witness is None or _blank(witness.user_id) or _blank(witness.name):
        problems.append(Problem("witness", "The staff witness is not recorded."))
    if release.signed_at is None:
        problems.append(Problem("signed_at", "The date and time of signing are not recorded."))
    elif release.effective_at < release.signed_at:
        problems.append(
            Problem("effective_at", "The release cannot take effect before it is signed.")
        )
    return problems
