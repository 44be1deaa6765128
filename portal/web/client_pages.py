"""Client pages for the client's own agency: list, search, register, detail, restricted persons."""

from __future__ import annotations

from datetime import date

from starlette.responses import RedirectResponse, Response

from portal import i18n
from portal.auth.permissions import Permission, allows
from portal.disclosure import parse_purpose
from portal.errors import Conflict, Forbidden, Invalid
from portal.models import Client, RestrictionReason
from portal.sections import catalogue
from portal.services import (
    clients,
    compelled_disclosures,
    releases,
    restricted_persons,
    safety_plan_copy,
    submissions,
    validation,
    visibility,
)
from portal.web import confirm_pages, forms, release_pages
from portal.web.context import Context
from portal.web.render import render

PER_PAGE = 25
SEARCH_FIELDS = ("given_name", "family_name", "birth_date")


def _requester(ctx: Context):
    return ctx.requester.asking(parse_purpose(ctx.request.query_params.get("purpose") or None))


def _page_number(text: str | None) -> int:
    # The length first: int() reads no more than 4,300 digits (a ValueError, a 500).
    readable = text and text.isdecimal() and len(text) < 8
    return int(text) if readable and 0 < int(text) < 100_000 else 1


def client_list(ctx: Context) -> Response:
    return _client_list(ctx, dict.fromkeys(SEARCH_FIELDS, ""))


def client_search(ctx: Context) -> Response:
    """The search is a form posted, never an address: a name and a birth date typed would
    stay in the browser's history (an agency's shared computer), in a proxy's log and in
    the next page's referrer."""
    return _client_list(ctx, {k: ctx.field(k).strip() for k in SEARCH_FIELDS})


def _client_list(ctx: Context, query: dict[str, str]) -> Response:
    agency, keys = ctx.viewer.agency, ctx.request.app.state.keys
    # A survivor-mentor lists the clients of their caseload, not the whole program's.
    holder = visibility.caseload_holder(ctx.viewer)
    errors: dict[str, str] = {}
    # A role that may not read identity sees references only, and cannot search by name:
    # a search would tell it whether a named person is a client.
    names = clients.may_read_identity(ctx.db, agency, requester=_requester(ctx))
    searching = any(query.values()) and names.allowed
    page, pages, total, rows = 1, 1, 0, []
    if searching:
        try:
            wanted = validation.collect(
                given_name=lambda: validation.text(
                    query["given_name"], "given_name", max_length=80, label="Given name"
                ),
                family_name=lambda: validation.text(
                    query["family_name"], "family_name", max_length=80, label="Family name"
                ),
                birth_date=lambda: validation.iso_date(
                    query["birth_date"], "birth_date", label="Birth date"
                ),
            )
            rows = clients.find_clients(ctx.db, agency, keys=keys, holder=holder, **wanted)
            total = len(rows)
        except Invalid as error:
            errors = error.errors
    else:
        total = clients.count_clients(ctx.db, agency, holder=holder)
        pages = max(1, -(-total // PER_PAGE))
        page = min(_page_number(ctx.request.query_params.get("page")), pages)
        rows = clients.clients_page(ctx.db, agency, page=page, per_page=PER_PAGE, holder=holder)
    # Only the rows on this page are decrypted, and only for a role that may read them;
    # each name shown is audited.
    identities = clients.listed_identities(
        ctx.db,
        names,
        rows,
        requester=_requester(ctx),
        keys=keys,
        at=ctx.now,
        shown_in="client search" if searching else "client list",
    )
    people = list(zip(rows, identities, strict=True))
    return render(
        ctx,
        "clients/list.html",
        {
            "people": people,
            "total": total,
            "page": page,
            "pages": pages,
            "searching": searching,
            "query": query,
            "errors": errors,
            "names": names,
            "caseload": holder is not None,
        },
        status=400 if errors else 200,
    )


def _register_form(ctx: Context, *, status: int = 200, errors: dict | None = None) -> Response:
    fields = ("reference", "given_name", "family_name", "birth_date", "phone", "email", "address")
    values = {k: ctx.field(k) for k in fields}
    values["preferred_language"] = ctx.field("preferred_language") or i18n.SOURCE_LANGUAGE
    names = clients.may_read_identity(ctx.db, ctx.viewer.agency, requester=_requester(ctx))
    return render(
        ctx,
        "clients/new.html",
        {
            "errors": errors or {},
            "values": values,
            "languages": i18n.languages(),
            "names": names,
        },
        # A role kept from clients' names cannot register one (see clients.register_new).
        status=status if names.allowed else 403,
    )


def client_new(ctx: Context) -> Response:
    return _register_form(ctx)


def client_create(ctx: Context) -> Response:
    form = {k: ctx.field(k) for k in ctx.form} if ctx.form else {}
    today = ctx.now.astimezone(ctx.settings.tz).date()

    def identity() -> clients.Identity:
        person = forms.identity(form)
        if person.birth_date > today or person.birth_date < date(1900, 1, 1):
            raise Invalid("birth_date", "The birth date must be a real date in the past.")
        return person

    try:
        values = validation.collect(
            identity=identity,
            reference=lambda: validation.text(
                form.get("reference"), "reference", max_length=40, label="Agency reference"
            ),
            preferred_language=lambda: clients.check_language(
                form.get("preferred_language") or i18n.SOURCE_LANGUAGE
            ),
        )
        client = clients.register_new(
            ctx.db,
            ctx.viewer.agency,
            values["identity"],
            requester=_requester(ctx),
            reference=values["reference"],
            preferred_language=values["preferred_language"],
            actor=ctx.viewer.user,
            keys=ctx.request.app.state.keys,
            at=ctx.now,
            holder=visibility.caseload_holder(ctx.viewer),
        )
    except Forbidden:
        return _register_form(ctx)
    except Conflict as error:
        ctx.keep_on_error = True  # the match was a read of that client's name: audited
        return _register_form(ctx, status=error.status_code, errors=error.errors)
    except Invalid as error:
        return _register_form(ctx, status=error.status_code, errors=error.errors)
    ctx.flash("The client is registered.")
    return RedirectResponse(f"/clients/{client.public_id}", status_code=303)


COMPELLED_FIELDS = (
    "recipient",
    "basis",
    "basis_detail",
    "disclosed_on",
    "client_told",
    "client_notice",
)


def _detail(ctx: Context, client, *, status: int = 200, errors: dict | None = None) -> Response:
    if status >= 400:
        # Shown again beside a failed form: what the form left is dropped first, and the
        # audited reads of the record below are kept through the 4xx.
        ctx.db.rollback()
        ctx.keep_on_error = True
    identity_view = clients.view_identity(
        ctx.db,
        client,
        requester=_requester(ctx),
        keys=ctx.request.app.state.keys,
        at=ctx.now,
    )
    values = {k: ctx.field(k) for k in ("name", "reason", "note", "end_reason", *COMPELLED_FIELDS)}
    values["sections"] = ctx.fields("sections")
    restricted = restricted_persons.restricted_persons_of(
        ctx.db, client, keys=ctx.request.app.state.keys
    )
    # Their names are the survivor's family and circle: read as the client's own name is,
    # under the agency's policy for the role, audited.
    restricted_names = bool(restricted) and (
        clients.read_names_in(
            ctx.db,
            client,
            requester=_requester(ctx),
            subject=client.public_id,
            at=ctx.now,
            shown_in="persons who may never sign",
        ).allowed
    )
    compelled, compelled_kept = compelled_disclosures.shown_to(
        ctx.db, _requester(ctx), ctx.viewer.agency, client, at=ctx.now
    )
    return render(
        ctx,
        "clients/detail.html",
        {
            "client": client,
            "identity_view": identity_view,
            "may_print_plan": safety_plan_copy.may_print(ctx.db, client, requester=_requester(ctx)),
            "identity": identity_view.name,
            "restricted": restricted_persons.as_told(restricted, details=restricted_names),
            "restricted_names": restricted_names,
            "staff_names": restricted_persons.staff_names(ctx.db, restricted),
            "reasons": restricted_persons.RESTRICTION_REASONS,
            "reason_label": restricted_persons.reason_label,
            "not_verified": releases.NOT_VERIFIED,
            "release_rows": releases.release_rows(
                ctx.db, client, keys=ctx.request.app.state.keys, at=ctx.now, tz=ctx.settings.tz
            ),
            # "Has turned 18 since signing" puts the birthday between the signing and today:
            # told only to a role that may read the date of birth (read and audited above).
            "may_resign_alone": releases.signed_as_minor_now_adult(
                ctx.db,
                client,
                keys=ctx.request.app.state.keys,
                rules=releases.MinorSigning.from_settings(ctx.settings),
                at=ctx.now,
            )
            if identity_view.name
            else [],
            "languages": i18n.languages(),
            "compelled": compelled,
            "compelled_kept": compelled_kept,
            "compelled_sections": compelled_disclosures.section_titles,
            "bases": compelled_disclosures.BASIS_LABELS,
            "all_sections": catalogue().sections,
            "today": ctx.now.astimezone(ctx.settings.tz).date(),
            "errors": errors or {},
            "values": values,
        },
        status=status,
    )


def client_detail(ctx: Context) -> Response:
    client = clients.client_for(ctx.db, ctx.viewer, ctx.request.path_params["client_id"])
    return _detail(ctx, client)


RESTRICTION_FIELDS = ("name", "reason", "note")
CONFIRMED = "confirmed"  # the person recording was shown what it revokes, and went on


def restricted_person_create(ctx: Context) -> Response:
    client = clients.client_for(ctx.db, ctx.viewer, ctx.request.path_params["client_id"])
    given = {k: ctx.field(k) for k in RESTRICTION_FIELDS}
    try:
        restricted_persons.checked(**given)
    except Invalid as error:
        return _detail(ctx, client, status=error.status_code, errors=error.errors)
    # Matching the name against who signed reads the names on the client's releases: under
    # the agency's policy for the role, audited, as the release's page reads them.
    names = clients.read_names_in(
        ctx.db,
        client,
        requester=_requester(ctx),
        subject=client.public_id,
        at=ctx.now,
        shown_in="recording a person who may never sign",
    )
    # A role kept from names learns nothing of whom the name matches (typed as the client's
    # own, it would confirm who the client is): it is asked as if they had signed.
    signed = None
    if names.allowed:
        signed = releases.signed_by(
            ctx.db, client, given["name"], keys=ctx.request.app.state.keys, at=ctx.now
        )
    if signed is None or signed:
        # Recording them revokes every release in effect they signed: a revocation, which
        # only staff who manage releases make, and which cannot be undone, so asked first.
        if not allows(ctx.viewer.roles, Permission.RELEASE_MANAGE):
            ctx.keep_on_error = True  # the read of the names stays in the agency's log
            raise Forbidden(_NOT_YOURS_TO_REVOKE[signed is None])
        if ctx.field(CONFIRMED) != "yes":
            return confirm_pages.page(ctx, _restriction_revokes(client, given, signed))
    try:
        revoked = releases.record_restricted_person(
            ctx.db,
            client,
            **given,
            actor=ctx.viewer.user,
            keys=ctx.request.app.state.keys,
            at=ctx.now,
        )
    except Conflict as error:
        if names.allowed:
            return _detail(ctx, client, status=error.status_code, errors=error.errors)
        revoked = []  # already on the file, as the role is told: it may not read who is
    except Invalid as error:
        return _detail(ctx, client, status=error.status_code, errors=error.errors)
    told_elsewhere = (
        release_pages.tell_revoked_elsewhere(ctx, client.agency_id, client.id) if revoked else ""
    )
    ctx.flash(_recorded_words(len(revoked), names_read=names.allowed) + told_elsewhere)
    return RedirectResponse(f"/clients/{client.public_id}#restricted", status_code=303)


_NOT_YOURS_TO_REVOKE = {
    False: "This person signed a release of this client that is in effect, and recording "
    "them revokes it: only staff who manage releases can. Ask one of them to record this "
    "person.",
    True: "Recording a person revokes any release of this client in effect that they "
    "signed, which only staff who manage releases can do. Ask one of them to record this "
    "person.",
}


def _recorded_words(revoked: int, *, names_read: bool) -> str:
    recorded = "Recorded. This person can never sign a release for this client."
    if not names_read:  # the same words whoever they are
        return f"{recorded} Any release in effect they signed is revoked."
    if not revoked:
        return recorded
    return (
        f"{recorded} {revoked} release(s) they signed are revoked: ask the client to sign "
        "again, with someone else as the second signer where one is needed."
    )


def _restriction_revokes(client: Client, given: dict, signed: list | None) -> confirm_pages.Confirm:
    """What recording the person revokes: the releases they signed, or, to a role that may
    not read who signed (`signed` None), any they signed."""
    url = f"/clients/{client.public_id}"
    return confirm_pages.Confirm(
        title="Record this person and revoke the releases they signed?",
        consequences=[
            _what_is_revoked(client, signed),
            "It cannot be undone: to share again, the client signs a new release, with "
            "someone else beside them where a second signer is needed.",
        ],
        action=f"{url}/restricted-persons",
        button="Record and revoke",
        back=f"{url}#restricted",
        back_label="Back to the client",
        keep="Do not record them",
        hidden=(*((k, given[k]) for k in RESTRICTION_FIELDS), (CONFIRMED, "yes")),
    )


def _what_is_revoked(client: Client, signed: list | None) -> str:
    if signed is None:
        return (
            f"Any release of client {client.reference} in effect that this person signed, as "
            "the client or beside them, is revoked now: partners see nothing more under it."
        )
    one = len(signed) == 1
    return (
        f"This person signed {len(signed)} release{'' if one else 's'} of client "
        f"{client.reference} that {'is' if one else 'are'} still in effect. Recording them "
        f"revokes {'it' if one else 'them'} now: partners see nothing more under "
        f"{'it' if one else 'them'}."
    )


def _compelled_to_record(
    ctx: Context, client: Client, given: compelled_disclosures.CompelledDisclosureInput
) -> confirm_pages.Confirm:
    """What recording the compelled disclosure writes, as the form gave it, to check
    before it is kept for good; the form's values are carried on to the action."""
    url = f"/clients/{client.public_id}"
    titles = [catalogue().get(key).title for key in given.sections]
    basis = compelled_disclosures.BASIS_LABELS[given.basis]
    told = (
        "The client was told."
        if given.client_told
        else f"The client was not told: {given.client_notice}"
    )
    carried = [(k, ctx.field(k) or "") for k in (*COMPELLED_FIELDS, submissions.FIELD)]
    return confirm_pages.Confirm(
        title="Record this compelled disclosure?",
        consequences=[
            f"{confirm_pages.names_of(titles)} of client {client.reference}, disclosed to "
            f"{given.recipient} on {given.disclosed_on:%B %-d, %Y} under a {basis} "
            f"({given.basis_detail}). {told}",
            "It is kept in your agency's audit log and in the client's accounting of "
            "disclosures for good: it cannot be changed or removed once recorded.",
        ],
        action=f"{url}/compelled-disclosures",
        button="Record the disclosure",
        back=f"{url}#compelled",
        back_label="Back to the client",
        keep="Do not record it",
        tone="",
        hidden=(
            *carried,
            *(("sections", key) for key in given.sections),
            (CONFIRMED, "yes"),
        ),
    )


def language_update(ctx: Context) -> Response:
    client = clients.client_for(ctx.db, ctx.viewer, ctx.request.path_params["client_id"])
    try:
        clients.set_preferred_language(
            ctx.db, client, ctx.field("preferred_language"), actor=ctx.viewer.user, at=ctx.now
        )
    except Invalid as error:
        return _detail(ctx, client, status=error.status_code, errors=error.errors)
    ctx.flash("The client's language is recorded; new releases are prepared in it.")
    return RedirectResponse(f"/clients/{client.public_id}#language", status_code=303)


def _restriction_to_end(ctx: Context, person, client: Client, *, value: str = ""):
    """What ending the restriction lets happen, to read before it does. Names no one: the
    client page says who, to those the agency's policy lets read it."""
    url = f"/clients/{client.public_id}"
    why = {
        RestrictionReason.SUSPECTED_EXPLOITER: " as a suspected exploiter",
        RestrictionReason.COURT_ORDER: " under a court order that keeps them away",
    }.get(person.reason, "")
    recorded = person.created_at.astimezone(ctx.settings.tz).date().isoformat()
    return confirm_pages.Confirm(
        title=f"End a restriction on who may sign for client {client.reference}?",
        consequences=[
            f"The person recorded on {recorded}{why} can sign releases for client "
            f"{client.reference} again from now on, in any capacity.",
            "Releases revoked when they were recorded stay revoked.",
            "The restriction stays on the client's file as history, with your reason. To "
            "stop them signing again, record them again.",
        ],
        action=f"/restrictions/{person.public_id}/end",
        button="End the restriction",
        back=f"{url}#restricted",
        back_label="Back to the client",
        keep="Keep the restriction",
        reason=confirm_pages.Reason(
            "end_reason",
            "Reason for ending it",
            required=True,
            value=value,
            ask="Give a reason for ending the restriction",
        ),
    )


def restriction_end_page(ctx: Context) -> Response:
    person = restricted_persons.access_restriction(
        ctx.db, ctx.viewer.agency, ctx.request.path_params["restriction_id"]
    )
    client = ctx.db.get(Client, person.client_id)  # the lead's own: access_restriction says so
    if person.ended_at is not None:
        return RedirectResponse(f"/clients/{client.public_id}#restricted", status_code=303)
    return confirm_pages.page(ctx, _restriction_to_end(ctx, person, client))


def restriction_end(ctx: Context) -> Response:
    person = restricted_persons.access_restriction(
        ctx.db, ctx.viewer.agency, ctx.request.path_params["restriction_id"]
    )
    client = ctx.db.get(Client, person.client_id)  # the lead's own: access_restriction says so
    try:
        restricted_persons.end_restriction(
            ctx.db,
            person,
            reason=ctx.field("end_reason"),
            actor=ctx.viewer.user,
            keys=ctx.request.app.state.keys,
            at=ctx.now,
        )
    except Invalid as error:  # back to the page that asked, the reason kept
        confirm = _restriction_to_end(ctx, person, client, value=ctx.field("end_reason")[:500])
        return confirm_pages.page(ctx, confirm, status=error.status_code, errors=error.errors)
    ctx.flash("The restriction is ended; it stays on the client's file as history.")
    return RedirectResponse(f"/clients/{client.public_id}#restricted", status_code=303)


def compelled_disclosure_create(ctx: Context) -> Response:
    client = clients.client_for(ctx.db, ctx.viewer, ctx.request.path_params["client_id"])
    try:
        today = ctx.now.astimezone(ctx.settings.tz).date()
        given = forms.compelled_disclosure(
            {k: ctx.field(k) for k in COMPELLED_FIELDS},
            sections=ctx.fields("sections"),
            today=today,
        )
        if ctx.field(CONFIRMED) != "yes":
            # Kept for good in the log and the survivor's accounting: asked first.
            return confirm_pages.page(ctx, _compelled_to_record(ctx, client, given))
        if submissions.first_time(ctx.db, ctx.field(submissions.FIELD), at=ctx.now):
            compelled_disclosures.record_compelled_disclosure(
                ctx.db, client, given=given, today=today, actor=ctx.viewer.user, at=ctx.now
            )
    except Invalid as error:
        return _detail(ctx, client, status=error.status_code, errors=error.errors)
    ctx.flash(
        "The compelled disclosure is recorded in your agency's audit log and in the "
        "client's accounting of disclosures."
    )
    return RedirectResponse(f"/clients/{client.public_id}#compelled", status_code=303)
