"""Demo seed for sections and releases: every agency's linked clients get section content,
and signed releases in every state, so the first login as an MDT member shows released
and withheld sections side by side. All content is synthetic and obviously fictional."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlmodel import Session, select

import consent
from portal.crypto import KeyWrapper
from portal.demo.releases import agency_staff, demo_signers
from portal.models import Agency, CaseLink, Client, MdtCase
from portal.sections import Section, catalogue
from portal.services import releases, sections

NOTES = (
    "Synthetic demo note: the survivor prefers morning appointments.",
    "Synthetic demo note: follow-up agreed with the team.",
    "Synthetic demo note: no concerns raised at the last contact.",
    "Synthetic demo note: transport arranged by the agency.",
)


# Date fields of what has happened (an assessment, a move): on or before today, where every
# other date of a section (a review, a hearing) is one to come.
HAPPENED = frozenset({"assessed_on", "moved_on"})


def _content(section: Section, rng: random.Random, today, since) -> dict:
    """`since`: the case's intake, from which what happened is dated (never after today)."""
    values: dict = {}
    for field in section.fields:
        if field.key == "preferred_name":
            values[field.key] = "Sam (synthetic)"
        elif field.type in ("text", "textarea"):
            values[field.key] = rng.choice(NOTES)
        elif field.type == "date" and field.key in HAPPENED:
            # One draw as for a date to come, so the rest of the seed stays as it was.
            span = max((today - since).days, 0)
            values[field.key] = (
                since + timedelta(days=(rng.randint(3, 40) - 3) % (span + 1))
            ).isoformat()
        elif field.type == "date":
            values[field.key] = (today + timedelta(days=rng.randint(3, 40))).isoformat()
        elif field.type == "choice":
            values[field.key] = rng.choice(field.options)
        elif field.type == "checklist":
            values[field.key] = rng.sample(field.options, k=min(2, len(field.options)))
        elif field.type == "domains":
            values[field.key] = {
                domain: {"status": rng.choice(field.statuses), "note": ""}
                for domain in rng.sample(field.options, k=5)
            }
    return values


def _sign(db, client, staff, recipients, *, sections_, effective, ends, keys, at):
    row = releases.draft_release(
        db,
        client,
        recipients=recipients,
        sections=sections_,
        purpose="mdt_case_review",
        effective_at=effective,
        expiry=consent.DateExpiry(ends),
        keys=keys,
        actor=staff,
        at=at,
    )
    signer, second_signer = demo_signers(db, client, keys=keys, at=at)
    releases.sign(
        db,
        row,
        signer=signer,
        second_signer=second_signer,
        method=consent.SignatureMethod.TYPED,
        actor=staff,
        keys=keys,
        at=at,
    )
    return row


def seed_sections(
    db: Session,
    agencies_by_key: dict[str, Agency],
    *,
    keys: KeyWrapper,
    at: datetime,
    today,
    rng: random.Random,
) -> None:
    staff_of = {}
    for agency in agencies_by_key.values():
        staff_of[agency.id] = agency_staff(db, agency)
    states = ("active", "active", "revoked", "expired", "not_yet_effective")
    links = db.exec(
        select(CaseLink, Client, MdtCase)
        .join(Client, Client.id == CaseLink.client_id)
        .join(MdtCase, MdtCase.id == CaseLink.case_id)
        .order_by(CaseLink.id)
    ).all()
    participants: dict[int, list[str]] = {}
    for link, _, _ in links:
        agency = next(a for a in agencies_by_key.values() if a.id == link.agency_id)
        participants.setdefault(link.case_id, []).append(agency.public_id)
    for number, (link, client, case) in enumerate(links):
        owner = next(a for a in agencies_by_key.values() if a.id == link.agency_id)
        staff = staff_of[owner.id]
        own_sections = catalogue().for_discipline(owner.discipline)
        for section in own_sections:
            if not section.editable:
                continue
            sections.save_section(
                db,
                client,
                section.key,
                _content(section, rng, today, min(case.intake_date, today)),
                actor=staff,
                keys=keys,
                at=at,
            )
        recipients = [p for p in participants[link.case_id] if p != owner.public_id]
        if not recipients:
            continue
        keys_shared = [s.key for s in own_sections if s.key not in ("mdt_minutes", "safe_contact")][
            :5
        ]
        if number % 2 == 1:
            # Every other survivor also shares where she lives and how to reach her (issue
            # 14): a community-based partner reads it, a system-based one never does (the
            # default policy), and elsewhere her name goes without her address.
            keys_shared.append("safe_contact")
        if number % 2 == 0 and any(s.key == "mdt_minutes" for s in own_sections):
            # Half the clients also release the MDT minutes: partners see some cases'
            # minutes released and others withheld by consent.
            keys_shared.append("mdt_minutes")
        # A survivor-mentor on the case sees the next hearing, never the legal section's
        # notes (issue 14, seed 004): the release names that part of it.
        keys_shared += [s.key for s in own_sections if s.key == "next_hearing"]
        if number % 4 != 1:
            # Most survivors also let the MDT's partners read its decisions and tasks (issue
            # 14); a case with one survivor who has not shows them withheld to everyone
            # that survivor's release does not name.
            keys_shared += ["mdt_decisions", "mdt_tasks"]
        state = "active" if owner.discipline == "advocacy" else states[number % len(states)]
        effective, ends = at, at + timedelta(days=180)
        if state == "expired":
            ends = at + timedelta(seconds=1)
        elif state == "not_yet_effective":
            effective, ends = at + timedelta(days=7), at + timedelta(days=187)
        row = _sign(
            db,
            client,
            staff,
            recipients,
            sections_=keys_shared,
            effective=effective,
            ends=ends,
            keys=keys,
            at=at,
        )
        if state == "revoked":
            releases.revoke(
                db,
                row,
                reason="Demo: the survivor asked to stop sharing.",
                actor=staff,
                keys=keys,
                at=at,
            )
        if link.agency_id != case.coordinating_agency_id:
            # The client joined the case under this release, which names the coordinating
            # agency (issue 14): where it is revoked or expired, the coordinator's case
            # page says the case needs a new release, and partners see nothing more of it.
            link.release_ref = row.public_id
            db.add(link)
