"""Screening, the risk screen, mandated reports and the survivor's printable safety plan,
for the agency's own clients (issue 20). Thin: parse, call a service, render."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from starlette.responses import RedirectResponse, Response

from portal.auth.permissions import Permission, allows
from portal.disclosure import parse_purpose
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.federation import links, membership
from portal.federation import referrals as partner_referrals
from portal.models import Agency
from portal.models.case import ReferralSource
from portal.models.screening import (
    AgeGroup,
    HouseholdRelation,
    MdtChoice,
    ReportRecipient,
    ScreeningAction,
    ScreeningTrigger,
)
from portal.screening_tools import catalogue as tool_catalogue
from portal.sections import catalogue as section_catalogue
from portal.services import (
    clients,
    mandated_reports,
    referrals,
    risk_screens,
    safety_plan_copy,
    screenings,
    submissions,
)
from portal.services.releases import MinorSigning
from portal.web import confirm_pages, screening_forms
from portal.web.context import Context
from portal.web.render import in_zone, render

SCREENING_FIELDS = screenings.FIELDS


def _client(ctx: Context):
    return clients.client_for(ctx.db, ctx.viewer, ctx.request.path_params["client_id"])


def _purpose(ctx: Context) -> str:
    return parse_purpose(ctx.request.query_params.get("purpose") or None)


def _allowed(ctx: Context, client, section_key: str) -> None:
    try:
        screenings.need_to_know(
            ctx.db, client, section_key, requester=ctx.requester.asking(_purpose(ctx)), at=ctx.now
        )
    except Forbidden:
        ctx.keep_on_error = True  # the refusal's audit entry must survive the 403
        raise


def _shown_again(ctx: Context, status: int) -> None:
    """A page shown again beside a failed form (a 4xx) shows the client's screening: what
    the failed write left is dropped first, so that nothing of it is committed with the
    reads this page audits, which must survive the 4xx like any read shown."""
    if status >= 400:
        ctx.db.rollback()
        ctx.keep_on_error = True


def _plan_kept_here(ctx: Context) -> bool:
    """Whether the viewer's agency keeps safety plans (its discipline's sections)."""
    kept = section_catalogue().for_discipline(ctx.viewer.agency.discipline)
    return any(section.key == "safety_plan" for section in kept)


def _keys(ctx: Context):
    return ctx.request.app.state.keys


def _raw(ctx: Context) -> dict:
    return {name: ctx.field(name) for name in SCREENING_FIELDS}


def _choices() -> dict:
    return {
        "tools": tool_catalogue().tools,
        "triggers": list(ScreeningTrigger),
        "actions": list(ScreeningAction),
        "age_groups": list(AgeGroup),
        "relations": list(HouseholdRelation),
        "recipients": list(ReportRecipient),
        "mdt_choices": list(MdtChoice),
        "referral_sources": list(ReferralSource),
    }


def screening_list(ctx: Context, *, values=None, errors=None, status=200) -> Response:
    _shown_again(ctx, status)
    client = _client(ctx)
    try:
        _allowed(ctx, client, screenings.SECTION)
    except Forbidden as withheld:
        # As on the section pages: a placeholder that says which gate, not a dead end.
        return render(ctx, "screening/withheld.html", {"client": client, "reason": str(withheld)})
    tz = ctx.settings.tz
    return render(
        ctx,
        "screening/list.html",
        {
            "client": client,
            "screenings": [
                screenings.screening_view(ctx.db, s, keys=_keys(ctx), tz=tz)
                for s in screenings.for_client(ctx.db, client)
            ],
            "clocks": [
                (c, risk_screens.status(c, ctx.now))
                for c in risk_screens.for_client(ctx.db, client)
            ],
            "reports": mandated_reports.for_client(ctx.db, client),
            "plan_kept_here": _plan_kept_here(ctx),
            "may_print_plan": safety_plan_copy.may_print(
                ctx.db, client, requester=ctx.requester.asking(_purpose(ctx))
            ),
            "values": values or {"screened_at": f"{ctx.now.astimezone(tz):%Y-%m-%dT%H:%M}"},
            "errors": errors or {},
            "tz": tz,
            **_choices(),
        },
        status=status,
    )


def screening_create(ctx: Context) -> Response:
    client = _client(ctx)
    _allowed(ctx, client, screenings.SECTION)
    try:
        given = screening_forms.read_screening(_raw(ctx), tz=ctx.settings.tz, now=ctx.now)
        made = screenings.start(
            ctx.db,
            client,
            given=given,
            actor=ctx.viewer.user,
            keys=_keys(ctx),
            minors=_minors(ctx),
            at=ctx.now,
        )
    except Invalid as error:
        return screening_list(ctx, values=_raw(ctx), errors=error.errors, status=error.status_code)
    ctx.flash("Screening recorded as a draft: finalise it when it is complete.")
    return _to(client, made)


def _to(client, screening) -> Response:
    return RedirectResponse(
        f"/clients/{client.public_id}/screenings/{screening.public_id}", status_code=303
    )


def _screening(ctx: Context, client):
    return screenings.access_screening(ctx.db, client, ctx.request.path_params["screening_id"])


def screening_detail(ctx: Context, *, values=None, errors=None, status=200) -> Response:
    _shown_again(ctx, status)
    client = _client(ctx)
    _allowed(ctx, client, screenings.SECTION)
    screening = _screening(ctx, client)
    tz = ctx.settings.tz
    return render(
        ctx,
        "screening/detail.html",
        {
            "client": client,
            "view": screenings.screening_view(ctx.db, screening, keys=_keys(ctx), tz=tz),
            "locked": screenings.locked(screening, ctx.now),
            "locks_at": screenings.locks_at(screening),
            "values": values or screenings.form_values(ctx.db, screening, keys=_keys(ctx), tz=tz),
            "errors": errors or {},
            "has_case": screenings.has_case(ctx.db, client),
            "may_open_case": allows(ctx.viewer.roles, Permission.CASE_CREATE),
            "staff": mandated_reports.reporter_staff(ctx.db, client),
            "now_local": f"{ctx.now.astimezone(tz):%Y-%m-%dT%H:%M}",
            "tz": tz,
            **_choices(),
        },
        status=status,
    )


def _act(ctx: Context, action, message: str) -> Response:
    """Run one change of a screening; an invalid form re-renders its page with a 4xx."""
    client = _client(ctx)
    # The client held before the read's audit entry is written to the agency's log: a
    # change that holds the client (starting the MDT path, a mandated report) then takes it
    # before the log, as a confirmation of the client on a case does. Taken the other way
    # round, the two at once deadlocked on PostgreSQL.
    clients.lock_client(ctx.db, client)
    _allowed(ctx, client, screenings.SECTION)
    screening = _screening(ctx, client)
    try:
        _still_as_seen(ctx, screening.updated_at.isoformat(), "screening", "Make your change")
        asked = action(client, screening)
        if isinstance(asked, Response):  # a page that asks first: nothing done yet
            return asked
    except Conflict as error:  # shown as it is now, not as the stale form had it
        ctx.db.rollback()
        return screening_detail(ctx, errors=error.errors, status=error.status_code)
    except Invalid as error:
        return screening_detail(
            ctx,
            values=_raw(ctx) if ctx.field("tool") else None,
            errors=error.errors,
            status=error.status_code,
        )
    ctx.flash(message)
    return _to(client, screening)


def _still_as_seen(ctx: Context, now_is: str, what: str, again: str) -> None:
    """A form that changes a record kept without versions (a screening, a risk screen's
    notes) carries what the record was when the page was opened (`seen`: its last save,
    or a digest): saved since by a colleague, the form would put back what they changed,
    so it is refused and the record shown as it is now."""
    seen = ctx.field("seen")
    if seen and seen != now_is:
        shown = what.replace("_", " ")
        raise Conflict(
            what,
            f"A colleague saved this {shown} after you opened it, and nothing of yours was "
            f"saved: here it is as it is now. {again} again.",
        )


def _common(ctx: Context) -> dict:
    return {
        "actor": ctx.viewer.user,
        "keys": _keys(ctx),
        "tz": ctx.settings.tz,
        "window_hours": ctx.settings.risk_screen_window_hours,
        "at": ctx.now,
    }


def _minors(ctx: Context) -> MinorSigning:
    """The MDT's age of majority and zone: a screening's age group is checked by them."""
    return MinorSigning.from_settings(ctx.settings)


def _read_screening(ctx: Context) -> screenings.ScreeningInput:
    return screening_forms.read_screening(_raw(ctx), tz=ctx.settings.tz, now=ctx.now)


def screening_edit(ctx: Context) -> Response:
    def edit(client, screening):
        screenings.require_editable(screening, ctx.now)  # a locked one says so first
        screenings.edit(
            ctx.db, screening, given=_read_screening(ctx), minors=_minors(ctx), **_common(ctx)
        )

    return _act(ctx, edit, "Screening saved.")


def screening_finalise_page(ctx: Context) -> Response:
    """Asks before finalising: it cannot be taken back, and may start a clock."""
    client = _client(ctx)
    _allowed(ctx, client, screenings.SECTION)
    screening = _screening(ctx, client)
    if screening.finalised_at is not None:
        return _to(client, screening)
    tz = ctx.settings.tz
    screened = in_zone(screening.screened_at, tz)
    locks = in_zone(ctx.now + timedelta(days=screenings.LOCK_DAYS), tz)
    consequences = [
        f"The screening of {screened} becomes final: it cannot go back to a draft. It can "
        f"be edited until {locks}; after that a change is an amendment, "
        "kept beside it for good.",
    ]
    if screening.concern == "clear":
        consequences.append(
            "Its clear concern identifies the survivor: the risk screen and a first safety "
            f"plan are due within {ctx.settings.risk_screen_window_hours} hours of the "
            "screening."
        )
    if screening.age_group == AgeGroup.MINOR:
        if screening.concern == "clear":
            consequences.append(
                "A minor with a clear concern and no MDT case is flagged to the MDT "
                "coordinator, to start the MDT path."
            )
        consequences.append(
            "Its result is saved to the client's trafficking screening section, which "
            "partners read only through your agency's disclosure policy."
        )
    else:
        consequences.append(
            "Nothing of it is shared with partners unless the survivor says yes to MDT "
            "involvement, and a release covers it."
        )
    detail = f"/clients/{client.public_id}/screenings/{screening.public_id}"
    return confirm_pages.page(
        ctx,
        confirm_pages.Confirm(
            title="Finalise this screening?",
            consequences=consequences,
            action=f"{detail}/finalise",
            button="Finalise the screening",
            back=detail,
            back_label=f"Back to the screening of {screened}",
            keep="Not yet",
            tone="",
            hidden=(("seen", screening.updated_at.isoformat()),),
        ),
    )


def screening_finalise(ctx: Context) -> Response:
    return _act(
        ctx, lambda c, s: screenings.finalise(ctx.db, s, **_common(ctx)), "Screening finalised."
    )


def screening_amend(ctx: Context) -> Response:
    def amend(client, screening):
        screenings.require_amendable(screening, ctx.now)  # then the reason, then the fields
        reason = screening_forms.amendment_reason({"reason": ctx.field("reason")})
        given = _read_screening(ctx)
        screenings.amend(
            ctx.db, screening, given=given, reason=reason, minors=_minors(ctx), **_common(ctx)
        )

    return _act(ctx, amend, "Amendment recorded; the screening keeps it for good.")


def screening_choice(ctx: Context) -> Response:
    common = _common(ctx)
    common.pop("window_hours")
    return _act(
        ctx,
        lambda c, s: screenings.record_choice(ctx.db, s, choice=ctx.field("choice"), **common),
        "The survivor's choice is recorded.",
    )


def screening_mdt_path(ctx: Context) -> Response:
    today = ctx.now.astimezone(ctx.settings.tz).date()
    holder = {}

    def start(client, screening):
        holder["case"] = screenings.start_mdt_path(
            ctx.db,
            screening,
            ctx.viewer.agency,
            referral_source=ctx.field("referral_source"),
            actor=ctx.viewer.user,
            at=ctx.now,
            tz=ctx.settings.tz,
            today=today,
            window_days=ctx.settings.convening_window_days,
        )

    response = _act(ctx, start, "MDT case opened from the screening; the 14-day clock runs.")
    if "case" in holder:
        return RedirectResponse(f"/cases/{holder['case'].public_id}", status_code=303)
    return response


# -- a minor a partner's point referred (the coordinator's row) ------------------------


def _referral(ctx: Context) -> tuple:
    """The partner and its referral, as its point tells of it now: asked again on every
    view (both sides audited), 404 when it no longer tells of it, or for anyone but the
    MDT's coordinating agency."""
    owner = ctx.db.exec(
        select(Agency).where(
            Agency.public_id == ctx.request.path_params["agency_id"], Agency.is_active
        )
    ).first()
    if owner is None or owner.id == ctx.viewer.agency.id:
        raise NotFound("referral")
    answer = partner_referrals.one_partner(
        ctx.db,
        ctx.requester,
        owner,
        configured=ctx.settings.coordinating_agency,
        at=ctx.now,
        tz=ctx.settings.tz,
        age_of_majority=ctx.settings.age_of_majority,
        keys=_keys(ctx),
        federation=ctx.request.app.state.federation,
        only=ctx.request.path_params["referral_id"],
        between=ctx.db.commit,  # nothing held while the partner's node answers
    )
    if answer is not None and answer.unavailable:
        raise Conflict("referral", f"{owner.name} did not answer: {answer.unavailable}.")
    kept, ctx.keep_on_error = ctx.keep_on_error, True  # the owner's decision, either way
    found = referrals.find(answer, ctx.request.path_params["referral_id"])
    ctx.keep_on_error = kept
    return owner, found


def referral_page(ctx: Context, *, errors=None, status=200) -> Response:
    owner, referral = _referral(ctx)
    return render(
        ctx,
        "screening/referral.html",
        {
            "owner": owner,
            "referral": referral,
            "waiting": referrals.waiting_on(ctx.db, ctx.viewer.agency, owner),
            "elsewhere": not membership.is_local(ctx.db, owner),
            "referral_sources": list(ReferralSource),
            "source": ctx.field("referral_source") or referrals.referral_source_of(owner),
            "errors": errors or {},
        },
        status=status,
    )


def referral_open_case(ctx: Context) -> Response:
    """Open the MDT case from a partner's referral and invite the partner; a partner
    elsewhere is asked at once to name its client (under its joining release)."""
    owner, referral = _referral(ctx)
    today = ctx.now.astimezone(ctx.settings.tz).date()
    try:
        case = referrals.open_case_from(
            ctx.db,
            referral,
            ctx.viewer.agency,
            referral_source=ctx.field("referral_source"),
            actor=ctx.viewer.user,
            at=ctx.now,
            tz=ctx.settings.tz,
            today=today,
            window_days=ctx.settings.convening_window_days,
        )
    except Invalid as error:
        ctx.db.rollback()  # nothing of the failed form; the page asks the owner again
        ctx.keep_on_error = True
        return referral_page(ctx, errors=error.errors, status=error.status_code)
    message = (
        f"{case.reference} is open; convene the MDT by {case.convening_due.isoformat()}. "
        f"{owner.name} names its client on the case from its side, under a release naming "
        "your agency for MDT case review."
    )
    if not membership.is_local(ctx.db, owner):
        try:
            confirmed = links.request_link(
                ctx.db,
                case,
                owner,
                referral.client_reference,
                requester=ctx.requester,
                at=ctx.now,
                keys=_keys(ctx),
                federation=ctx.request.app.state.federation,
                commit=ctx.db.commit,  # claimed, then answered, with nothing held meanwhile
            )
        except Conflict as error:
            confirmed = None
            message = f"{case.reference} is open. {error.errors.get('agency', '')}"
        if confirmed:
            message = f"{case.reference} is open and {owner.name} confirmed its client."
        elif confirmed is False:
            message = (
                f"{case.reference} is open. {owner.name} declined for now: no release of its "
                "client in effect names your agency for MDT case review. Ask it again from "
                "the case page once the survivor has signed one."
            )
    ctx.flash(message)
    return RedirectResponse(f"/cases/{case.public_id}", status_code=303)


REPORT_FIELDS = (
    "recipient",
    "made_at",
    "made_by",
    "report_number",
    "client_told",
    "client_notice",
)


def screening_report(ctx: Context) -> Response:
    def report(client, screening):
        mandated_reports.require_minor(screening)  # an adult's screening says so first
        given = screening_forms.read_mandated_report(
            {k: ctx.field(k) for k in REPORT_FIELDS},
            reporters=mandated_reports.reporters(ctx.db, client),
            tz=ctx.settings.tz,
            now=ctx.now,
        )
        if ctx.field(CONFIRMED) != "yes":
            # Kept for good on the timeline and in the survivor's accounting: asked first.
            return confirm_pages.page(ctx, _report_to_record(ctx, client, given))
        if submissions.first_time(ctx.db, ctx.field(submissions.FIELD), at=ctx.now):
            mandated_reports.record_report(
                ctx.db,
                screening,
                given=given,
                actor=ctx.viewer.user,
                tz=ctx.settings.tz,
                at=ctx.now,
            )

    return _act(
        ctx, report, "Mandated report recorded: it is on the case timeline and in the accounting."
    )


CONFIRMED = "confirmed"  # the person recording was shown what is kept, and went on


def _report_to_record(ctx: Context, client, given) -> confirm_pages.Confirm:
    """What recording the mandated report writes, as the form gave it, to check before it
    is kept for good; the form's values are carried on to the action."""
    told = (
        "The client was told."
        if given.client_told
        else f"The client was not told: {given.client_notice}"
    )
    carried = [(k, ctx.field(k) or "") for k in (*REPORT_FIELDS, "seen", submissions.FIELD)]
    return confirm_pages.Confirm(
        title="Record this mandated report?",
        consequences=[
            f"A report about client {client.reference} made to {given.recipient.label} on "
            f"{in_zone(given.made_at, ctx.settings.tz)}, number {given.report_number}. {told}",
            "It is kept on the case's timeline and in the client's accounting of disclosures "
            "for good: it cannot be changed or removed once recorded.",
        ],
        action=ctx.request.url.path,
        button="Record the report",
        back=ctx.request.url.path.rsplit("/", 1)[0],
        back_label="Back to the screening",
        keep="Do not record it",
        tone="",
        hidden=(*carried, (CONFIRMED, "yes")),
    )


# -- the risk screen -------------------------------------------------------------------


def _risk_screen(ctx: Context, client):
    return risk_screens.access_risk_screen(ctx.db, client, ctx.request.path_params["screen_id"])


def risk_screen_page(ctx: Context, *, errors=None, status=200) -> Response:
    _shown_again(ctx, status)
    client = _client(ctx)
    _allowed(ctx, client, "safety_plan")
    screen = _risk_screen(ctx, client)
    return render(
        ctx,
        "screening/risk_screen.html",
        {
            "client": client,
            "view": risk_screens.view(ctx.db, screen, keys=_keys(ctx), now=ctx.now),
            "seen": risk_screens.notes_fingerprint(ctx.db, screen, keys=_keys(ctx)),
            "first_mark": risk_screens.first_mark(screen),
            "plan_kept_here": _plan_kept_here(ctx),
            "errors": errors or {},
            "tz": ctx.settings.tz,
            **_choices(),
        },
        status=status,
    )


def _risk_act(ctx: Context, action, message: str) -> Response:
    client = _client(ctx)
    _allowed(ctx, client, "safety_plan")
    screen = _risk_screen(ctx, client)
    try:
        risk_screens.require_running(screen)
        action(screen)
    except Conflict as error:  # shown as it is now, not as the stale form had it
        ctx.db.rollback()
        return risk_screen_page(ctx, errors=error.errors, status=error.status_code)
    except Invalid as error:
        return risk_screen_page(ctx, errors=error.errors, status=error.status_code)
    ctx.flash(message)
    return RedirectResponse(
        f"/clients/{client.public_id}/risk-screens/{screen.public_id}", status_code=303
    )


def risk_screen_record(ctx: Context) -> Response:
    def record(screen):
        fingerprint = risk_screens.notes_fingerprint(ctx.db, screen, keys=_keys(ctx))
        _still_as_seen(ctx, fingerprint, "risk_screen", "Add your notes")
        people = [p.public_id for p in risk_screens.persons(ctx.db, screen)]
        fields = ["survivor_notes", *(f"person_{public_id}" for public_id in people)]
        given = screening_forms.read_risk_notes({k: ctx.field(k) for k in fields}, people=people)
        risk_screens.record_screen(
            ctx.db, screen, given=given, actor=ctx.viewer.user, keys=_keys(ctx), at=ctx.now
        )

    return _risk_act(ctx, record, "Risk screen saved.")


def risk_screen_person(ctx: Context) -> Response:
    def add(screen):
        given = screening_forms.read_household_member(
            {k: ctx.field(k) for k in ("relation", "label", "notes")}
        )
        risk_screens.add_person(
            ctx.db, screen, given=given, actor=ctx.viewer.user, keys=_keys(ctx), at=ctx.now
        )

    return _risk_act(ctx, add, "Added to the risk screen.")


# -- the survivor's copy of the safety plan --------------------------------------------


def safety_plan_print(ctx: Context) -> Response:
    client = _client(ctx)
    copy = safety_plan_copy.survivor_copy(
        ctx.db,
        client,
        requester=ctx.requester.asking(_purpose(ctx)),
        keys=_keys(ctx),
        at=ctx.now,
    )
    if copy.withheld:
        ctx.keep_on_error = True  # the refused read stays in the agency's log
        raise Forbidden(copy.withheld)
    response = render(
        ctx,
        "screening/safety_plan_print.html",
        {"client": client, "copy": copy, "language": copy.language},
    )
    response.headers["Cache-Control"] = "no-store"
    return response
