"""The screening record (issue 20): owned by the agency that screened, a draft until
finalised, editable for seven days after, then locked; later changes are amendments,
kept and shown beside it.

A clear concern is identification: it starts the 24–48 hour risk-screen clock. It is not
a case on its own. For a minor it flags the coordinator (the dashboard's row of minors
with a clear concern and no MDT case) and the MDT path starts from it. For an adult the
survivor's own choice is recorded (wants MDT involvement: yes / not now), and the
screening is written to its section, the only way partners can ever see it, only once
the answer is yes; even then a release is needed, as for every section.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, func, select

from portal.audit import AuditTag, record
from portal.crypto import KeyWrapper
from portal.db import stamp_once
from portal.disclosure import own
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.models import Actor, Agency, CaseLink, Client, StaffUser
from portal.models.screening import (
    AgeGroup,
    MdtChoice,
    Screening,
    ScreeningAction,
    ScreeningAmendment,
    ScreeningTrigger,
    amendment_sealed_for,
    screening_sealed_for,
)
from portal.placeholders import sentence
from portal.requester import Requester
from portal.screening_tools import Tool, catalogue
from portal.services import cases, releases, risk_screens, section_versions, validation
from portal.services.clients import lock_client
from portal.services.keys import open_record, seal_record

_UTC = ZoneInfo("UTC")
SECTION = "screening"
LOCK_DAYS = 7
DUE_HOURS = 24  # the default of the setting: a screening begun is overdue once this old
NOTES_MAX = 2000
REASON_MAX = 500
FIELDS = (
    "tool",
    "tool_version",
    "screened_at",
    "trigger",
    "band",
    "age_group",
    "action",
    "action_reason",
    "notes",
)
LABELS = {
    "tool": "Tool",
    "tool_version": "Version",
    "screened_at": "Screened",
    "trigger": "Why screened",
    "band": "Result",
    "age_group": "Age group",
    "action": "Action taken",
    "action_reason": "Reason for no action",
    "notes": "Screener's notes",
}


@dataclass(frozen=True)
class ScreeningInput:
    """A screening as the form gave it, each field read and checked on its own
    (`portal.web.screening_forms` reads it; `screened_at` is zone-aware, in the MDT's
    zone). What holds between the fields is refused here: the version and the result band
    must be the tool's, and no action taken needs its reason."""

    tool: Tool
    tool_version: str
    screened_at: datetime
    trigger: ScreeningTrigger
    band: str
    age_group: AgeGroup
    action: ScreeningAction
    action_reason: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        if self.screened_at.tzinfo is None:
            raise ValueError("a screening's time needs its time zone")
        errors = {}
        if self.tool_version not in self.tool.versions:
            errors["tool_version"] = f"Choose a version of {self.tool.name} from the list."
        if self.tool.band(self.band) is None:
            errors["band"] = f"Choose a result band of {self.tool.name}."
        if self.action == ScreeningAction.NONE and not self.action_reason:
            errors["action_reason"] = "Say why no action was taken."
        if errors:
            raise Invalid.of(errors)

    @property
    def concern(self) -> str:
        return self.tool.band(self.band).concern


def _notes_place(screening: Screening) -> str:
    return screening_sealed_for(screening.agency_id, screening.client_id, screening.id)


def _amendment_place(screening: Screening, amendment: ScreeningAmendment) -> str:
    return amendment_sealed_for(
        screening.agency_id, screening.client_id, screening.id, amendment.id
    )


def _apply(
    db: Session,
    screening: Screening,
    given: ScreeningInput,
    *,
    keys: KeyWrapper,
    minors: releases.MinorSigning,
):
    _age_group_is_the_clients(db, screening, given, keys=keys, minors=minors)
    screening.tool_key = given.tool.key
    screening.tool_version = given.tool_version
    screening.screened_at = given.screened_at.astimezone(_UTC)  # stored in UTC
    screening.trigger = ScreeningTrigger(given.trigger).value
    screening.band = given.band
    screening.concern = given.concern
    screening.age_group = AgeGroup(given.age_group).value
    screening.action = ScreeningAction(given.action).value
    if screening.id is None:  # a new screening: its notes are sealed for its row
        db.add(screening)
        db.flush()
    screening.key_id, screening.notes_sealed = seal_record(
        db,
        screening.agency_id,
        keys,
        {"notes": given.notes, "action_reason": given.action_reason},
        place=_notes_place(screening),
    )


def _age_group_is_the_clients(
    db: Session,
    screening: Screening,
    given: ScreeningInput,
    *,
    keys: KeyWrapper,
    minors: releases.MinorSigning,
) -> None:
    """Whether the client is a minor decides the screening's path: a minor's goes to the
    MDT with no choice asked, and takes mandated reports; an adult's waits for their own
    yes. So the age group is the one the client's sealed birth date gives on the day
    screened (as a release works it out), never one typed against it."""
    client = db.get(Client, screening.client_id)
    born = releases.birth_date_of(db, client, keys=keys)
    minor = minors.is_minor(born, given.screened_at)
    expected = AgeGroup.MINOR if minor else AgeGroup.ADULT
    if AgeGroup(given.age_group) is not expected:
        said = f"a minor (under {minors.age_of_majority})" if minor else "an adult"
        raise Invalid(
            "age_group",
            f"The client's recorded birth date makes them {said} on the day screened: "
            f"choose “{expected.value}”, or correct the birth date on their record first.",
        )


def _subject(db: Session, screening: Screening) -> str:
    return db.get(Client, screening.client_id).public_id


def start(
    db: Session,
    client: Client,
    *,
    given: ScreeningInput,
    actor: Actor,
    keys: KeyWrapper,
    minors: releases.MinorSigning,
    at: datetime,
) -> Screening:
    """Record a screening as a draft; the screener is whoever records it. `minors`: the
    MDT's age of majority and zone, by which the age group is checked."""
    screening = Screening(
        agency_id=client.agency_id,
        client_id=client.id,
        screener_id=actor.id if actor else None,
        created_at=at,
        created_by_id=actor.id if actor else None,
        updated_at=at,
        tool_key="",
        tool_version="",
        screened_at=at,
        trigger="",
        band="",
        concern="",
        age_group="",
        action="",
        key_id="",
        notes_sealed=b"",
    )
    _apply(db, screening, given, keys=keys, minors=minors)
    db.add(screening)
    db.flush()
    record(
        db,
        AuditTag.SCREENING_STARTED,
        agency_id=client.agency_id,
        actor=actor,
        subject=client.public_id,
        detail={"screening": screening.public_id, "tool": screening.tool_key},
        at=at,
    )
    return screening


def locks_at(screening: Screening) -> datetime | None:
    if screening.finalised_at is None:
        return None
    return screening.finalised_at + timedelta(days=LOCK_DAYS)


def locked(screening: Screening, at: datetime) -> bool:
    """Seven days after it was finalised, to the second, the record is locked."""
    ends = locks_at(screening)
    return ends is not None and at >= ends


def require_editable(screening: Screening, at: datetime) -> None:
    """Checked before the form is read, so a locked screening says so first."""
    if locked(screening, at):
        raise Conflict(
            "screening", "This screening is locked (seven days after it was finalised): amend it."
        )


def require_amendable(screening: Screening, at: datetime) -> None:
    """Checked before the form is read, as `require_editable`."""
    if not locked(screening, at):
        raise Conflict("screening", "This screening can still be edited; amend it once locked.")


def edit(
    db: Session,
    screening: Screening,
    *,
    given: ScreeningInput,
    actor: Actor,
    keys: KeyWrapper,
    minors: releases.MinorSigning,
    tz: ZoneInfo,
    window_hours: int,
    at: datetime,
) -> Screening:
    """Change a draft, or a finalised screening inside its seven days."""
    require_editable(screening, at)
    _apply(db, screening, given, keys=keys, minors=minors)
    screening.updated_at = at
    db.add(screening)
    record(
        db,
        AuditTag.SCREENING_EDITED,
        agency_id=screening.agency_id,
        actor=actor,
        subject=_subject(db, screening),
        detail={"screening": screening.public_id},
        at=at,
    )
    if screening.finalised_at is not None:
        _after_final(db, screening, actor=actor, keys=keys, tz=tz, window_hours=window_hours, at=at)
    return screening


def finalise(
    db: Session,
    screening: Screening,
    *,
    actor: Actor,
    keys: KeyWrapper,
    tz: ZoneInfo,
    window_hours: int,
    at: datetime,
) -> Screening:
    # One conditional statement: of two finalisings at once the second sets nothing, and
    # the risk clock and the log see one.
    if screening.finalised_at is not None or not stamp_once(db, screening, "finalised_at", at):
        raise Conflict("screening", "This screening is already finalised.")
    screening.updated_at = at
    db.add(screening)
    record(
        db,
        AuditTag.SCREENING_FINALISED,
        agency_id=screening.agency_id,
        actor=actor,
        subject=_subject(db, screening),
        detail={
            "screening": screening.public_id,
            "tool": screening.tool_key,
            "concern": screening.concern,
        },
        at=at,
    )
    _after_final(db, screening, actor=actor, keys=keys, tz=tz, window_hours=window_hours, at=at)
    return screening


def _after_final(db, screening, *, actor: Actor, keys, tz, window_hours, at) -> None:
    """A clear concern starts the risk-screen clock (from the time of the screening); a
    screening no longer showing one stops the clock it started (see risk_screens), and
    another finalised clear concern of the client, if any, keeps the survivor identified.
    Whatever may be shared is written to the screening section."""
    client = db.get(Client, screening.client_id)
    identifying = screening if screening.concern == "clear" else None
    if identifying is None and risk_screens.stop_clock(db, screening.id, actor=actor, at=at):
        identifying = _earliest_clear_concern(db, client)
    if identifying is not None:
        risk_screens.start_clock(
            db,
            client,
            identified_at=identifying.screened_at,
            window_hours=window_hours,
            screening_id=identifying.id,
            actor=actor,
            keys=keys,
            at=at,
        )
    publish(db, screening, actor=actor, keys=keys, tz=tz, at=at)


def _earliest_clear_concern(db: Session, client: Client) -> Screening | None:
    return db.exec(
        select(Screening)
        .where(
            Screening.agency_id == client.agency_id,
            Screening.client_id == client.id,
            Screening.concern == "clear",
            Screening.finalised_at.is_not(None),
        )
        .order_by(Screening.screened_at, Screening.id)
        .limit(1)
    ).first()


def shareable(screening: Screening) -> bool:
    """A minor's screening follows the MDT path; an adult's only on their own yes."""
    if screening.finalised_at is None:
        return False
    return screening.age_group == AgeGroup.MINOR or screening.mdt_choice == MdtChoice.YES


def publish(db, screening, *, actor: Actor, keys, tz, at) -> None:
    """Write the screening as the section's next version if it may be shared; if the
    survivor said "not now" on it (an adult who had said yes), write an empty version over
    what partners read, so the disclosure point has nothing of it to release. A screening
    whose choice is still to be asked changes nothing partners read: the survivor has said
    nothing new, and what they said yes to stays shared."""
    client = db.get(Client, screening.client_id)
    if shareable(screening):
        content = section_content(db, screening, keys=keys, tz=tz)
    elif (
        screening.mdt_choice == MdtChoice.NOT_NOW
        and section_versions.latest(db, client, SECTION) is not None
    ):
        content = {"result": "Not shared: the survivor has not asked for MDT involvement."}
    else:
        return
    section_versions.add_version(db, client, SECTION, content, actor=actor, keys=keys, at=at)


def section_content(db: Session, screening: Screening, *, keys: KeyWrapper, tz: ZoneInfo) -> dict:
    view = screening_view(db, screening, keys=keys, tz=tz)
    amendments = "\n".join(
        f"{a.at.astimezone(tz):%Y-%m-%d %H:%M} by {a.by or 'unknown'}: {a.summary}"
        for a in view.amendments
    )
    return {
        "screened_at": f"{screening.screened_at.astimezone(tz):%Y-%m-%d %H:%M %Z}",
        "tool": view.tool_label,
        "screener": view.screener or "",
        "trigger": view.trigger_label,
        "result": view.band_label,
        "action": view.action_label,
        "action_reason": view.action_reason,
        "notes": view.notes,
        "amendments": amendments,
    }


def amend(
    db: Session,
    screening: Screening,
    *,
    given: ScreeningInput,
    reason: str,
    actor: Actor,
    keys: KeyWrapper,
    minors: releases.MinorSigning,
    tz: ZoneInfo,
    window_hours: int,
    at: datetime,
) -> ScreeningAmendment:
    """Change a locked screening: the change, its reason, who and when are kept for good."""
    require_amendable(screening, at)
    if not reason:
        raise Invalid("reason", "Reason for the amendment is required.")
    before = _field_values(db, screening, keys=keys, tz=tz)
    _apply(db, screening, given, keys=keys, minors=minors)
    after = _field_values(db, screening, keys=keys, tz=tz)
    changes = {k: [before[k], after[k]] for k in FIELDS if before[k] != after[k]}
    if not changes:
        raise Invalid("reason", "Nothing was changed: an amendment needs a change.")
    amendment = ScreeningAmendment(
        screening_id=screening.id,
        at=at,
        by_id=actor.id if actor else None,
        key_id="",
        change_sealed=b"",  # sealed below, for its row
    )
    screening.updated_at = at
    db.add_all([amendment, screening])
    db.flush()
    amendment.key_id, amendment.change_sealed = seal_record(
        db,
        screening.agency_id,
        keys,
        {"reason": reason, "changes": changes},
        place=_amendment_place(screening, amendment),
    )
    db.add(amendment)
    record(
        db,
        AuditTag.SCREENING_AMENDED,
        agency_id=screening.agency_id,
        actor=actor,
        subject=_subject(db, screening),
        detail={"screening": screening.public_id, "fields": sorted(changes)},
        at=at,
    )
    _after_final(db, screening, actor=actor, keys=keys, tz=tz, window_hours=window_hours, at=at)
    return amendment


def _field_values(db, screening, *, keys, tz) -> dict:
    sealed = open_record(
        db,
        screening.agency_id,
        keys,
        screening.key_id,
        screening.notes_sealed,
        place=_notes_place(screening),
    )
    tool = catalogue().get(screening.tool_key)
    band = tool.band(screening.band) if tool else None
    return {
        "tool": tool.name if tool else screening.tool_key,
        "tool_version": screening.tool_version,
        "screened_at": f"{screening.screened_at.astimezone(tz):%Y-%m-%d %H:%M}",
        "trigger": ScreeningTrigger(screening.trigger).label,
        "band": band.label if band else screening.band,
        "age_group": screening.age_group,
        "action": ScreeningAction(screening.action).label,
        "action_reason": sealed.get("action_reason", ""),
        "notes": sealed.get("notes", ""),
    }


def record_choice(
    db: Session,
    screening: Screening,
    *,
    choice: object,
    actor: Actor,
    keys: KeyWrapper,
    tz: ZoneInfo,
    at: datetime,
) -> Screening:
    """An adult's own answer: wants MDT involvement, yes or not now. Services go on either
    way; a survivor who does not self-identify is still served."""
    if screening.age_group != AgeGroup.ADULT:
        raise Invalid("choice", "A minor's MDT path does not wait for a choice.")
    value = validation.choice(choice, "choice", MdtChoice, label="MDT involvement")
    if screening.mdt_choice == value:
        return screening
    screening.mdt_choice = value
    screening.updated_at = at
    db.add(screening)
    record(
        db,
        AuditTag.SCREENING_MDT_CHOICE,
        agency_id=screening.agency_id,
        actor=actor,
        subject=_subject(db, screening),
        detail={"screening": screening.public_id, "choice": value},
        at=at,
    )
    if screening.finalised_at is not None:
        publish(db, screening, actor=actor, keys=keys, tz=tz, at=at)
    return screening


def start_mdt_path(
    db: Session,
    screening: Screening,
    coordinating_agency: Agency,
    *,
    referral_source: object,
    actor: Actor,
    at: datetime,
    tz: ZoneInfo,
    today: date,
    window_days: int,
):
    """Open the MDT case from a clear concern (the 14-day clock starts at the screening's
    date) and link the client, confirmed: the coordinator's own agency screened."""
    if screening.agency_id != coordinating_agency.id:
        raise NotFound("screening")
    if screening.finalised_at is None or screening.concern != "clear":
        raise Invalid("screening", "Only a finalised screening with a clear concern starts it.")
    if screening.age_group == AgeGroup.ADULT and screening.mdt_choice != MdtChoice.YES:
        raise Invalid("screening", "The survivor has not asked for MDT involvement.")
    client = db.get(Client, screening.client_id)
    # Held before the check, as a link's confirmation holds it: one survivor, one case,
    # when the path is started twice at once or while the client is linked elsewhere.
    lock_client(db, client)
    if has_case(db, client):
        raise Conflict("screening", "This client is already part of an MDT case.")
    intake = min(screening.screened_at.astimezone(tz).date(), today)
    case = cases.open_case(
        db,
        coordinating_agency,
        intake_date=intake.isoformat(),
        referral_source=referral_source,
        actor=actor,
        at=at,
        today=today,
        window_days=window_days,
    )
    cases.link_client(db, case, coordinating_agency, client, actor=actor, at=at, confirmed=True)
    screening.mdt_case_id = case.id
    db.add(screening)
    record(
        db,
        AuditTag.SCREENING_MDT_PATH,
        agency_id=screening.agency_id,
        actor=actor,
        subject=client.public_id,
        detail={"screening": screening.public_id, "case": case.reference},
        at=at,
    )
    return case


def has_case(db: Session, client: Client) -> bool:
    return (
        db.exec(
            select(func.count())
            .select_from(CaseLink)
            .where(CaseLink.agency_id == client.agency_id, CaseLink.client_id == client.id)
        ).one()
        > 0
    )


def access_screening(db: Session, client: Client, public_id: str) -> Screening:
    found = db.exec(
        select(Screening).where(
            Screening.public_id == public_id,
            Screening.agency_id == client.agency_id,
            Screening.client_id == client.id,
        )
    ).first()
    if found is None:
        raise NotFound("screening")
    return found


def for_client(db: Session, client: Client) -> list[Screening]:
    return list(
        db.exec(
            select(Screening)
            .where(Screening.agency_id == client.agency_id, Screening.client_id == client.id)
            .order_by(Screening.screened_at.desc())
        ).all()
    )


@dataclass(frozen=True)
class AmendmentView:
    at: datetime
    by: str | None
    reason: str
    changes: dict

    @property
    def summary(self) -> str:
        parts = [
            f"{LABELS[k]}: {old or '(blank)'} → {new or '(blank)'}"
            for k, (old, new) in self.changes.items()
        ]
        return f"{self.reason} ({'; '.join(parts)})"


@dataclass(frozen=True)
class ScreeningView:
    screening: Screening
    tool_label: str
    band_label: str
    trigger_label: str
    action_label: str
    action_reason: str
    notes: str
    screener: str | None
    amendments: list[AmendmentView]


def screening_view(db: Session, screening: Screening, *, keys: KeyWrapper, tz: ZoneInfo):
    """The owner's own view (the caller checked the viewer may read the section)."""
    values = _field_values(db, screening, keys=keys, tz=tz)
    screener = db.get(StaffUser, screening.screener_id) if screening.screener_id else None
    rows = db.exec(
        select(ScreeningAmendment, StaffUser.display_name)
        .join(StaffUser, StaffUser.id == ScreeningAmendment.by_id, isouter=True)
        .where(ScreeningAmendment.screening_id == screening.id)
        .order_by(ScreeningAmendment.at, ScreeningAmendment.id)
    ).all()
    amendments = []
    for amendment, name in rows:
        content = open_record(
            db,
            screening.agency_id,
            keys,
            amendment.key_id,
            amendment.change_sealed,
            place=_amendment_place(screening, amendment),
        )
        amendments.append(AmendmentView(amendment.at, name, content["reason"], content["changes"]))
    return ScreeningView(
        screening,
        f"{values['tool']} ({screening.tool_version})",
        values["band"],
        values["trigger"],
        values["action"],
        values["action_reason"],
        values["notes"],
        screener.display_name if screener else None,
        amendments,
    )


def form_values(db: Session, screening: Screening | None, *, keys: KeyWrapper, tz: ZoneInfo):
    if screening is None:
        return {}
    sealed = open_record(
        db,
        screening.agency_id,
        keys,
        screening.key_id,
        screening.notes_sealed,
        place=_notes_place(screening),
    )
    return {
        "tool": screening.tool_key,
        "tool_version": screening.tool_version,
        "screened_at": f"{screening.screened_at.astimezone(tz):%Y-%m-%dT%H:%M}",
        "trigger": screening.trigger,
        "band": screening.band,
        "age_group": screening.age_group,
        "action": screening.action,
        "action_reason": sealed.get("action_reason", ""),
        "notes": sealed.get("notes", ""),
    }


# -- the coordinator's rows ------------------------------------------------------------


@dataclass(frozen=True)
class DraftRow:
    public_id: str
    client_id: str
    client_reference: str
    created_at: datetime
    overdue: bool


def drafts(
    db: Session, agency_id: int, *, now: datetime, due_hours: int = DUE_HOURS, limit: int = 25
):
    """Screenings begun and not finalised: each due, and overdue once it was begun more
    than `due_hours` ago (exactly at `due_hours` it is still only due)."""
    where = (Screening.agency_id == agency_id, Screening.finalised_at.is_(None))
    cutoff = now - timedelta(hours=due_hours)
    total, overdue = db.exec(
        select(
            select(func.count()).where(*where).scalar_subquery(),
            select(func.count()).where(*where, Screening.created_at < cutoff).scalar_subquery(),
        )
    ).one()
    rows = db.exec(
        select(Screening.public_id, Client.public_id, Client.reference, Screening.created_at)
        .join(Client, Client.id == Screening.client_id)
        .where(*where)
        .order_by(Screening.created_at, Screening.id)
        .limit(limit)
    ).all()
    return total, overdue, [DraftRow(*row, row[3] < cutoff) for row in rows]


@dataclass(frozen=True)
class MinorRow:
    public_id: str
    client_id: str
    client_reference: str
    screened_at: datetime


def minors_without_case(db: Session, agency_id: int, *, limit: int = 25):
    """Minors with a finalised clear concern whose client is in no MDT case."""
    linked = (
        select(CaseLink.id)
        .where(CaseLink.agency_id == agency_id, CaseLink.client_id == Screening.client_id)
        .exists()
    )
    where = (
        Screening.agency_id == agency_id,
        Screening.concern == "clear",
        Screening.age_group == AgeGroup.MINOR,
        Screening.finalised_at.is_not(None),
        ~linked,
    )
    total = db.exec(select(func.count(func.distinct(Screening.client_id))).where(*where)).one()
    rows = db.exec(
        select(Screening.public_id, Client.public_id, Client.reference, Screening.screened_at)
        .join(Client, Client.id == Screening.client_id)
        .where(*where)
        .order_by(Screening.screened_at, Screening.id)
        .limit(limit)
    ).all()
    return total, [MinorRow(*row) for row in rows]


def need_to_know(
    db: Session, client: Client, section_key: str, *, requester: Requester, at
) -> None:
    """The owner's policy for its own staff, as on the section pages: the read is audited
    either way, and a refusal says which gate (the caller keeps the entry on a 403)."""
    agency = db.get(Agency, client.agency_id)
    if agency is None or agency.public_id != requester.agency:
        raise NotFound("client")
    answer = own.read(
        db,
        requester,
        section_key,
        agency=agency,
        client_ref=client.public_id,
        subject=client.public_id,
        at=at,
    )
    if answer.withheld:
        raise Forbidden(f"Withheld: {sentence(answer.why)}.")
