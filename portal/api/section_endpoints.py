"""Writing the agency's own sections, and reading case summaries through disclose()."""

from __future__ import annotations

from sqlmodel import select

import consent
from portal.api.routing import ApiContext, Operation, Param
from portal.api.schemas import (
    CaseSummary,
    ClientList,
    ClientRef,
    OwnerBlock,
    SectionDecision,
    SectionRow,
    SectionSaved,
    SectionWrite,
)
from portal.auth.permissions import Permission
from portal.disclosure import point
from portal.errors import Forbidden, Invalid
from portal.federation import summary as summaries
from portal.models import ApiScope, Client
from portal.placeholders import sentence
from portal.services import cases, clients, sections, visibility


def find_clients(ctx: ApiContext) -> ClientList:
    reference = ctx.request.query_params.get("reference", "")
    if not reference or len(reference) > 40:
        raise Invalid("reference", "Give your agency's client reference (at most 40 characters).")
    holder = visibility.caseload_holder(ctx.viewer)
    rows = ctx.db.exec(
        select(Client.public_id, Client.reference).where(
            Client.agency_id == ctx.viewer.agency.id,
            Client.reference == reference,
            *(() if holder is None else (visibility.client_held_by(holder.id),)),
        )
    ).all()
    return ClientList(items=[ClientRef(id=i, reference=r) for i, r in rows])


def write_section(ctx: ApiContext) -> SectionSaved:
    """The web's save, in the token's role: the agency's discipline and its own policy."""
    client = clients.client_for(ctx.db, ctx.viewer, ctx.request.path_params["client_id"])
    try:
        entry = sections.write_section(
            ctx.db,
            client,
            ctx.request.path_params["section_key"],
            dict(ctx.body.content),
            requester=ctx.requester.asking(
                point.parse_purpose(ctx.request.query_params.get("purpose"))
            ),
            keys=ctx.request.app.state.keys,
            at=ctx.now,
            exact=True,
        )
    except Forbidden:
        ctx.keep_on_error = True  # the refusal's audit entry stays, as on the web
        raise
    return SectionSaved(
        client=client.public_id, section=entry.section_key, version=entry.version, saved_at=entry.at
    )


def _decision(decision: point.Decision) -> SectionDecision:
    base = {
        "section": decision.section.key,
        "title": decision.section.title,
        "decision": decision.decision,
    }
    if isinstance(decision, point.Withheld):
        return SectionDecision(**base, gate=decision.gate, reason=sentence(decision.why))
    return SectionDecision(
        **base,
        version=decision.content.version,
        rows=[SectionRow(label=r.label, type=r.type, value=r.value) for r in decision.content.rows],
        notices=list(decision.notices),
    )


def case_summary(ctx: ApiContext) -> CaseSummary:
    case = cases.case_for(ctx.db, ctx.viewer, ctx.request.path_params["case_id"])
    purpose = point.parse_purpose(ctx.request.query_params.get("purpose"))
    # Every owner in one pass, as the summary page does: heads locked in the one order,
    # releases and policies read once, every decision audited in one batch.
    blocks = summaries.every_block(
        ctx.db,
        ctx.requester.asking(purpose),
        case,
        at=ctx.now,
        tz=ctx.settings.tz,
        keys=ctx.request.app.state.keys,
        federation=ctx.request.app.state.federation,  # owners on other nodes (issue 16)
        between=ctx.db.commit,  # the owners' answers are their own transaction
    )
    owners = [
        OwnerBlock(
            agency=block.participant.agency.public_id,
            name=block.participant.agency.name,
            kind=block.participant.agency.kind,
            sections=[_decision(d) for d in block.decisions or ()],
            unavailable=block.unavailable,
        )
        for block in blocks
    ]
    return CaseSummary(
        case=case.public_id, reference=case.reference, purpose=purpose, owners=owners
    )


# The purpose a request asks for: the gates decide for it (and the audit names it).
PURPOSE = Param(
    "purpose",
    "query",
    {"type": "string", "enum": [p.value for p in consent.Purpose]},
    required=False,
)

OPERATIONS = (
    Operation(
        "GET",
        "/clients",
        find_clients,
        ApiScope.SECTIONS_WRITE,
        "Your own clients with this agency reference",
        ClientList,
        params=(Param("reference", "query", {"type": "string", "maxLength": 40}),),
        permission=Permission.CLIENT_READ,
    ),
    Operation(
        "PUT",
        "/clients/{client_id}/sections/{section_key}",
        write_section,
        ApiScope.SECTIONS_WRITE,
        "Save a new version of one of your own client's sections",
        SectionSaved,
        body=SectionWrite,
        params=(
            Param("client_id", "path", {"type": "string"}),
            Param("section_key", "path", {"type": "string"}),
            PURPOSE,
        ),
        errors=(400, 401, 403, 404, 422),
        permission=Permission.SECTION_WRITE,
    ),
    Operation(
        "GET",
        "/cases/{case_id}/summary",
        case_summary,
        ApiScope.SUMMARY_READ,
        "The case summary as released to you: every owner's sections, decided and "
        "audited by each owner's disclosure point",
        CaseSummary,
        params=(
            Param("case_id", "path", {"type": "string"}),
            PURPOSE,
        ),
        permission=Permission.CASE_SUMMARY_READ,
    ),
)
