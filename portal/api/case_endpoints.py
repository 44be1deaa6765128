"""Cases the calling agency takes part in."""

from __future__ import annotations

from portal.api.routing import ApiContext, Operation, Param
from portal.api.schemas import CaseList, CasePublic
from portal.auth.permissions import Permission
from portal.errors import Invalid
from portal.models import ApiScope
from portal.services import cases


def _bounded_int(ctx: ApiContext, name: str, default: int, low: int, high: int) -> int:
    raw = ctx.request.query_params.get(name)
    if raw is None:
        return default
    # Length first: int() refuses more than 4,300 digits (a ValueError, not a 400).
    if not raw.isdecimal() or len(raw) > 12 or not low <= int(raw) <= high:
        raise Invalid(name, f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


def _public(row: cases.CaseRow) -> CasePublic:
    return CasePublic(
        id=row.public_id,
        reference=row.reference,
        intake_date=row.intake_date,
        convening_due=row.convening_due,
        status=row.status,
        referral_source=row.referral_source,
    )


def list_cases(ctx: ApiContext) -> CaseList:
    limit = _bounded_int(ctx, "limit", 50, 1, 200)
    offset = _bounded_int(ctx, "offset", 0, 0, 10_000_000)
    agency = ctx.viewer.agency
    holder = cases.caseload_holder(ctx.viewer)
    rows = cases.cases_for_agency(
        ctx.db,
        agency,
        window_days=ctx.settings.convening_window_days,
        limit=limit,
        offset=offset,
        holder=holder,
    )
    return CaseList(
        items=[_public(r) for r in rows],
        total=cases.count_cases_for_agency(ctx.db, agency, holder=holder),
        limit=limit,
        offset=offset,
    )


def get_case(ctx: ApiContext) -> CasePublic:
    case = cases.case_for(ctx.db, ctx.viewer, ctx.request.path_params["case_id"])
    return _public(cases.case_row(case, window_days=ctx.settings.convening_window_days))


OPERATIONS = (
    Operation(
        "GET",
        "/cases",
        list_cases,
        ApiScope.CASES_READ,
        "MDT cases your agency takes part in",
        CaseList,
        params=(
            Param(
                "limit", "query", {"type": "integer", "minimum": 1, "maximum": 200}, required=False
            ),
            Param(
                "offset",
                "query",
                {"type": "integer", "minimum": 0, "maximum": 10_000_000},
                required=False,
            ),
        ),
        permission=Permission.CASE_READ,
    ),
    Operation(
        "GET",
        "/cases/{case_id}",
        get_case,
        ApiScope.CASES_READ,
        "One MDT case",
        CasePublic,
        params=(Param("case_id", "path", {"type": "string"}),),
        permission=Permission.CASE_READ,
    ),
)
