"""Agency and staff administration, for administrators and agency leads."""

from __future__ import annotations

from sqlmodel import select
from starlette.responses import RedirectResponse, Response

from portal.auth.sessions import signed_in_now
from portal.errors import Forbidden, Invalid
from portal.models import AgencyKind, Discipline, Node, Role, WebSession
from portal.services import (
    agencies,
    api_tokens,
    enrolment,
    mentor_assignments,
    staff,
    submissions,
)
from portal.web import confirm_pages
from portal.web.context import Context
from portal.web.render import render


def agency_list(ctx: Context) -> Response:
    return render(
        ctx,
        "admin/agencies.html",
        {
            "agencies": agencies.manageable_agencies(ctx.db, ctx.viewer),
        },
    )


def _agency_form(ctx: Context, *, status: int = 200, errors: dict | None = None) -> Response:
    return render(
        ctx,
        "admin/agency_new.html",
        {
            "errors": errors or {},
            "kinds": list(AgencyKind),
            "disciplines": list(Discipline),
            "values": {k: ctx.field(k) for k in ("name", "kind", "discipline", "requires_totp")},
        },
        status=status,
    )


def agency_new(ctx: Context) -> Response:
    return _agency_form(ctx)


def agency_create(ctx: Context) -> Response:
    try:
        agency = agencies.create_agency(
            ctx.db,
            name=ctx.field("name"),
            kind=ctx.field("kind"),
            discipline=ctx.field("discipline"),
            requires_totp=ctx.field("requires_totp") == "on",
            actor=ctx.viewer.user,
            keys=ctx.request.app.state.keys,
            at=ctx.now,
        )
    except Invalid as error:
        return _agency_form(ctx, status=error.status_code, errors=error.errors)
    ctx.flash(f"{agency.name} was created. Add its first agency lead below.")
    return RedirectResponse(f"/admin/agencies/{agency.public_id}", status_code=303)


def _agency_page(ctx: Context, agency, *, status: int = 200, errors: dict | None = None):
    return render(
        ctx,
        "admin/agency.html",
        {
            "agency": agency,
            "members": staff.staff_of(ctx.db, agency),
            "totp_is_leads": agencies.totp_kept_from(ctx.db, ctx.viewer, agency, at=ctx.now),
            "errors": errors or {},
        },
        status=status,
    )


def agency_detail(ctx: Context) -> Response:
    agency = agencies.access_agency(ctx.db, ctx.viewer, ctx.request.path_params["agency_id"])
    return _agency_page(ctx, agency)


def agency_settings(ctx: Context) -> Response:
    agency = agencies.access_agency(ctx.db, ctx.viewer, ctx.request.path_params["agency_id"])
    try:
        agencies.set_requires_totp(
            ctx.db, agency, ctx.field("requires_totp") == "on", viewer=ctx.viewer, at=ctx.now
        )
    except Forbidden as error:
        ctx.keep_on_error = True  # the refused attempt stays in the agency's log
        return _agency_page(ctx, agency, status=403, errors={"requires_totp": str(error)})
    ctx.flash("Sign-in settings saved.")
    return RedirectResponse(f"/admin/agencies/{agency.public_id}", status_code=303)


def _assignable_roles(ctx: Context) -> list[Role]:
    if Role.ADMINISTRATOR in ctx.viewer.roles:
        return [Role.AGENCY_LEAD]  # an agency's first lead; that lead adds the rest
    return [r for r in Role if r is not Role.ADMINISTRATOR]


def _staff_form(ctx: Context, agency, *, status: int = 200, errors: dict | None = None):
    return render(
        ctx,
        "admin/staff_new.html",
        {
            "agency": agency,
            "errors": errors or {},
            "roles": _assignable_roles(ctx),
            "values": {
                "username": ctx.field("username"),
                "display_name": ctx.field("display_name"),
                "roles": ctx.fields("roles"),
            },
        },
        status=status,
    )


def staff_new(ctx: Context) -> Response:
    agency = agencies.access_agency(ctx.db, ctx.viewer, ctx.request.path_params["agency_id"])
    return _staff_form(ctx, agency)


def staff_create(ctx: Context) -> Response:
    agency = agencies.access_agency(ctx.db, ctx.viewer, ctx.request.path_params["agency_id"])
    try:
        invitation = staff.invite_staff(
            ctx.db,
            agency,
            username=ctx.field("username"),
            display_name=ctx.field("display_name"),
            roles=ctx.fields("roles"),
            viewer=ctx.viewer,
            at=ctx.now,
            submission=ctx.field(submissions.FIELD),
        )
    except Forbidden as error:
        ctx.keep_on_error = True  # the refused attempt stays in the agency's log
        return _staff_form(ctx, agency, status=403, errors={"roles": str(error)})
    except Invalid as error:
        return _staff_form(ctx, agency, status=error.status_code, errors=error.errors)
    user = invitation.member
    if invitation.secret is None:  # sent again once the link was used or ended
        ctx.flash(f"That form was sent twice: {user.display_name} was added once.")
        return RedirectResponse(staff.STAFF_PAGE + user.public_id, status_code=303)
    # The link is shown on this response only, to hand over; it is never stored.
    return render(
        ctx,
        "admin/enrolment_link.html",
        {
            "member": user,
            "agency": agency,
            "link": _node_address(ctx) + enrolment.PATH + invitation.secret,
            "lifetime_hours": int(enrolment.LINK_LIFETIME.total_seconds() // 3600),
            "sent_again": invitation.sent_again,
        },
    )


def _node_address(ctx: Context) -> str:
    """Where this node is reached, for a link handed to someone: the request's own address
    only where its host is one the operator listed by name (or on the demo); otherwise,
    with a wildcard allowed, the Host header could be anyone's, and the link would send the
    new staff member's secret there. Then the node's address in the roster."""
    host = ctx.request.url.hostname or ""
    if ctx.settings.demo or host in ctx.settings.allowed_hosts:
        return str(ctx.request.base_url).rstrip("/")
    node = ctx.db.exec(select(Node).where(Node.is_local.is_(True))).first()
    return (node.base_url if node else str(ctx.request.base_url)).rstrip("/")


def _staff_page(ctx: Context, user, *, status: int = 200, errors: dict | None = None):
    live_sessions = ctx.db.exec(
        select(WebSession)
        .where(
            WebSession.user_id == user.id,
            signed_in_now(
                now=ctx.now,
                idle=ctx.request.app.state.session_idle,
                absolute=ctx.request.app.state.session_absolute,
            ),
        )
        .order_by(WebSession.last_seen_at.desc())
    ).all()
    from portal.models import Agency

    return render(
        ctx,
        "admin/staff.html",
        {
            "member": user,
            "agency": ctx.db.get(Agency, user.agency_id),
            "member_roles": staff.roles_of(ctx.db, user),
            "lead_is_theirs": staff.lead_kept_from(ctx.db, ctx.viewer, user),
            "roles": _assignable_roles(ctx),
            "live_sessions": live_sessions,
            "errors": errors or {},
        },
        status=status,
    )


def staff_detail(ctx: Context) -> Response:
    user = staff.access_staff(ctx.db, ctx.viewer, ctx.request.path_params["user_id"])
    return _staff_page(ctx, user)


# The number of API tokens the viewer was told a role change ends, carried by its confirmation.
TOKENS_ENDING = "tokens_ending"


def staff_roles(ctx: Context) -> Response:
    user = staff.access_staff(ctx.db, ctx.viewer, ctx.request.path_params["user_id"])
    roles = ctx.fields("roles")
    try:
        taken = staff.roles_taken(ctx.db, user, roles, viewer=ctx.viewer, at=ctx.now)
        # A change that ends API tokens asks first, naming how many: the systems using
        # them stop, and giving the role back does not bring them back. The count confirmed
        # is carried, so a token made meanwhile is asked about again.
        if taken.tokens and ctx.field(TOKENS_ENDING) != str(len(taken.tokens)):
            return confirm_pages.page(ctx, _roles_confirm(user, roles, taken))
        staff.set_roles(ctx.db, user, roles, viewer=ctx.viewer, at=ctx.now)
    except Forbidden as error:
        ctx.keep_on_error = True  # the refused attempt stays in the agency's log
        return _staff_page(ctx, user, status=403, errors={"roles": str(error)})
    except Invalid as error:
        return _staff_page(ctx, user, status=400, errors=error.errors)
    ctx.flash("Roles saved.")
    return RedirectResponse(f"/admin/staff/{user.public_id}", status_code=303)


def _roles_confirm(user, roles: list[str], taken: staff.RolesTaken) -> confirm_pages.Confirm:
    """Taking a role ends the API tokens the user made acting in it (all of them with
    the lead role): said in words, with how many and their names, before it is done."""
    url, name, count = f"/admin/staff/{user.public_id}", user.display_name, len(taken.tokens)
    role_names = confirm_pages.names_of([Role(r).label for r in taken.roles])
    the_roles = f"the {role_names} role" + ("s" if len(taken.roles) > 1 else "")
    tokens = "1 API token" if count == 1 else f"{count} API tokens"
    made = "as a lead" if taken.lead_role else f"acting as {role_names}"
    them, stop = ("it", "stops") if count == 1 else ("them", "stop")
    return confirm_pages.Confirm(
        title=f"Take {the_roles} from {name}?",
        consequences=[
            f"{name} no longer holds {the_roles}.",
            f"The {tokens} {name} made {made} {stop} working for good: "
            f"{confirm_pages.names_of(taken.tokens)}. The systems that use {them} are refused "
            f"from now on.",
            f"Giving the role back does not bring {them} back: a lead makes new ones.",
        ],
        action=f"{url}/roles",
        button=("Take the role" if len(taken.roles) == 1 else "Take the roles")
        + (" and end the token" if count == 1 else f" and end the {count} tokens"),
        back=url,
        back_label=f"Back to {name}",
        keep="Keep their roles",
        hidden=(*(("roles", r) for r in roles), (TOKENS_ENDING, str(count))),
    )


def staff_deactivate_page(ctx: Context) -> Response:
    """Asks before deactivating: the sessions end, and the API tokens they issued end for
    good (reactivating the account does not bring them back)."""
    user = staff.access_staff(ctx.db, ctx.viewer, ctx.request.path_params["user_id"])
    url = f"/admin/staff/{user.public_id}"
    if (
        not user.is_active
        or user.id == ctx.viewer.user.id
        or staff.lead_kept_from(ctx.db, ctx.viewer, user)
    ):
        return RedirectResponse(url, status_code=303)  # the staff page says why not
    tokens = api_tokens.live_issued_by(ctx.db, user)
    consequences = [
        f"{user.display_name} is signed out everywhere and can no longer sign in.",
        "Their records and audit history stay; you can reactivate the account later.",
    ]
    if tokens:
        consequences.append(
            f"The {tokens} API token(s) they issued stop working for good: reactivating the "
            "account does not bring them back."
        )
    consequences.append(
        "Their calendar feed address and any enrolment link they were shown stop working for good."
    )
    if mentored := mentor_assignments.current_cases_of(ctx.db, user):
        consequences.append(
            f"The {mentored} case(s) they mentor have no mentor from now: the coordinator "
            "and their program are shown them to assign another."
        )
    return confirm_pages.page(
        ctx,
        confirm_pages.Confirm(
            title=f"Deactivate {user.display_name}?",
            consequences=consequences,
            action=f"{url}/deactivate",
            button="Deactivate",
            back=url,
            back_label=f"Back to {user.display_name}",
            keep="Keep the account active",
        ),
    )


def staff_deactivate(ctx: Context) -> Response:
    user = staff.access_staff(ctx.db, ctx.viewer, ctx.request.path_params["user_id"])
    try:
        staff.deactivate(ctx.db, user, viewer=ctx.viewer, at=ctx.now)
    except Forbidden as error:
        ctx.keep_on_error = True  # the refused attempt stays in the agency's log
        return _staff_page(ctx, user, status=403, errors={"user": str(error)})
    except Invalid as error:
        return _staff_page(ctx, user, status=400, errors=error.errors)
    ctx.flash(f"{user.display_name} is deactivated and signed out everywhere.")
    return RedirectResponse(f"/admin/staff/{user.public_id}", status_code=303)


def staff_reactivate(ctx: Context) -> Response:
    user = staff.access_staff(ctx.db, ctx.viewer, ctx.request.path_params["user_id"])
    try:
        staff.reactivate(ctx.db, user, viewer=ctx.viewer, at=ctx.now)
    except Forbidden as error:
        ctx.keep_on_error = True  # the refused attempt stays in the agency's log
        return _staff_page(ctx, user, status=403, errors={"user": str(error)})
    ctx.flash(f"{user.display_name} can sign in again.")
    return RedirectResponse(f"/admin/staff/{user.public_id}", status_code=303)


def staff_end_sessions(ctx: Context) -> Response:
    user = staff.access_staff(ctx.db, ctx.viewer, ctx.request.path_params["user_id"])
    ended = staff.end_sessions(ctx.db, user, viewer=ctx.viewer, at=ctx.now)
    ctx.flash(f"Ended {ended} session(s).")
    return RedirectResponse(f"/admin/staff/{user.public_id}", status_code=303)
