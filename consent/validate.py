"""Completeness and consistency checks on a release, naming every problem at once."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from consent.document import (
    STATEMENT_KEYS,
    Capacity,
    DateExpiry,
    MinorRule,
    Release,
    Signer,
    statements_digest,
)

# Signer rules.
#
# Format 2 (the portal signs in it): whether the client is a minor is computed from the
# birth date at the moment of signing, and `minor_rule` records who the jurisdiction says
# must sign for a minor:
#
# - MINOR_AND_GUARDIAN (VAWA's rule for grantees): the minor signs as `self`, and a
#   parent, legal guardian or custodian by court order signs too;
# - MINOR_ALONE: the minor signs as `self`; nobody else is needed.
#
# A restricted person (a suspected exploiter, someone a court order keeps away) never
# signs, in any capacity; a `parent` signs only for a minor.
#
# Format 1 (kept so old releases still read): `second_signer_required` was the form's
# call, and a minor whose form required one needed a signer other than `self`.

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
    """A name as a person reads it: casefolded, compatibility forms and accents folded,
    invisible (format) characters dropped, punctuation and whitespace collapsed to one
    space, so a restricted person cannot pass the check by typing their name differently
    (the portal's client search compares names the same way)."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    # Modifier letters (the ʻokina, ˀ) are dropped as accents are: "Daʻna" is "Dana".
    letters = "".join(
        ch if ch.isalnum() else " "
        for ch in decomposed
        if not unicodedata.combining(ch) and unicodedata.category(ch) not in ("Cf", "Lm")
    )
    return " ".join(letters.split())


# Letters of other alphabets that read as Latin ones on screen and on paper (the common
# part of Unicode's confusables, UTS #39, for the alphabets names here are written in).
_LOOK_ALIKE = str.maketrans(
    {
        # Cyrillic
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ԁ": "d",
        "һ": "h",
        "ԛ": "q",
        "ԝ": "w",
        "ү": "y",
        "ɡ": "g",
        "ӏ": "l",
        # Greek
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ζ": "z",
        "μ": "u",
    }
)


def same_person_key(name: str) -> str:
    """What two spellings of one person's name share: `normalise_name`, letters of other
    alphabets that look like Latin ones read as those, and the words in any order ("Sosa,
    Pepe" is "Pepe Sosa"). A restricted person is compared by it, never by what was typed."""
    return " ".join(sorted(normalise_name(name).translate(_LOOK_ALIKE).split()))


def mixed_alphabets(name: str) -> str | None:
    """The alphabets one word of the name mixes ("Latin and Cyrillic"), or None.

    Letters of another alphabet can look the same on the screen and on paper (Cyrillic е,
    і, о beside Latin e, i, o): a restricted person typing their name with a few of them
    would pass the check against the recorded name, which the witness reads as the same.
    A person writes one word of their name in one alphabet."""
    for word in unicodedata.normalize("NFKC", name).split():
        scripts = sorted({_alphabet(ch) for ch in word if ch.isalpha()} - {""})
        if len(scripts) > 1:
            return " and ".join(script.capitalize() for script in scripts)
    return None


# The alphabets whose letters look alike on screen and paper (Latin a, Cyrillic а, Greek
# α): only a mix of these in one word is refused. Other scripts name no look-alike, and
# one word may rightly join several (a Japanese name's kanji and kana, the Hawaiian
# ʻokina, a modifier letter beside Latin ones).
_LOOK_ALIKE_ALPHABETS = frozenset({"LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC"})


def _alphabet(letter: str) -> str:
    # The first word of a letter's Unicode name is its script (LATIN, CYRILLIC, GREEK...);
    # a letter of any other script counts as none of the look-alike alphabets.
    script = unicodedata.name(letter, "UNKNOWN").split()[0]
    return script if script in _LOOK_ALIKE_ALPHABETS else ""


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
    excluded_signers: Iterable[str] | Mapping[str, str] = (),
) -> list[Problem]:
    """Every missing or contradictory element of the release; an empty list means valid.

    `agency_kinds` maps each roster agency id to "community" or "system". `excluded_signers`
    are the persons recorded on the client who may never sign for them: their names, or a
    mapping of each name to why (e.g. "a suspected exploiter"), which the refusal repeats.
    """
    if isinstance(excluded_signers, Mapping):
        excluded = {same_person_key(n): reason for n, reason in excluded_signers.items()}
    else:
        excluded = {same_person_key(n): None for n in excluded_signers}
    problems: list[Problem] = []
    problems += _identity_problems(release, agency_kinds)
    problems += _recipient_problems(release, agency_kinds)
    problems += _section_problems(release, section_keys)
    problems += _period_problems(release)
    problems += _statement_problems(release)
    problems += _signer_problems(release, excluded)
    problems += _record_problems(release)
    return problems


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def _nameless(name: str | None) -> bool:
    """No name a person could read: blank, or only invisible characters and punctuation
    (a zero-width space is not whitespace to `str.strip`)."""
    return name is None or not any(ch.isalpha() for ch in normalise_name(name))


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
    problems = [
        Problem(f"statements.{key}", f"The statement on {STATEMENT_NAMES[key]} is missing.")
        for key in STATEMENT_KEYS
        if _blank(getattr(release.statements, key))
    ]
    if release.version >= 2 and release.statements_sha256 != statements_digest(release.statements):
        problems.append(
            Problem(
                "statements_sha256",
                "The record of the statement text shown does not match the statements.",
            )
        )
    return problems


def _signer_problems(release: Release, excluded: Mapping[str, str | None]) -> list[Problem]:
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
                "The client is a minor: a parent, legal guardian or custodian must sign as "
                "well, and nobody is recorded."
                if release.client_is_minor and release.version >= 2
                else "A second signer (parent, legal guardian or custodian) is required but "
                "missing.",
            )
        )
    for field, signer in signers:
        if _nameless(signer.name):
            problems.append(Problem(f"{field}.name", "The signer's name is missing."))
        elif same_person_key(signer.name) in excluded:
            problems.append(
                Problem(field, _excluded_message(excluded[same_person_key(signer.name)]))
            )
        elif mixed := mixed_alphabets(signer.name):
            problems.append(
                Problem(
                    field,
                    f"The name mixes letters of two alphabets in one word ({mixed}): type it "
                    "in one alphabet, as the person writes it.",
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
        if not _nameless(first.name) and same_person_key(first.name) == same_person_key(
            second.name
        ):
            problems.append(
                Problem("second_signer", "The second signer must be a different person.")
            )
    if release.version >= 2:
        problems += _minor_problems(release, signers)
    elif (
        len(signers) == 2
        and release.client_is_minor
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


def _excluded_message(reason: str | None) -> str:
    why = f"as {reason}" if reason else "as someone who may not sign"
    return (
        f"This person is recorded on this client {why}, and can never sign a release for "
        "them, in any capacity."
    )


def _minor_problems(release: Release, signers: list[tuple[str, Signer]]) -> list[Problem]:
    """Format 2: who signed, held to the rule for minors that the document records."""
    selves = [field for field, signer in signers if signer.capacity is Capacity.SELF]
    carers = [field for field, signer in signers if signer.capacity is not Capacity.SELF]
    problems = []
    if len(selves) > 1:
        problems.append(
            Problem("second_signer.capacity", "Only one person can sign as the client themself.")
        )
    if not release.client_is_minor:
        if release.minor_rule is not None:
            problems.append(
                Problem("minor_rule", "A rule for minors is recorded, but the client is an adult.")
            )
        return problems
    if release.minor_rule is None:
        return [
            *problems,
            Problem(
                "minor_rule",
                "The client is a minor, but the release does not record who must sign for a minor.",
            ),
        ]
    if release.signer is not None and not selves:
        problems.append(
            Problem(
                "signer.capacity",
                "The minor's own signature is missing: the client signs too, as themself.",
            )
        )
    if release.minor_rule is MinorRule.MINOR_AND_GUARDIAN:
        if not release.second_signer_required:
            problems.append(
                Problem(
                    "second_signer",
                    "For this minor a second signer must be required: a parent, legal "
                    "guardian or custodian.",
                )
            )
        elif release.second_signer is not None and not carers:
            problems.append(
                Problem(
                    "second_signer.capacity",
                    "For this minor a parent, legal guardian or custodian must also sign; "
                    "nobody signs in that capacity.",
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
