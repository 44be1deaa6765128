"""An agency lead's view and edit of their own agency's disclosure policy lines."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import RedirectResponse, Response

from portal.errors import Invalid
from portal.models import AgencyKind, Role
from portal.sections import catalogue
from portal.services import policy, release_forms
from portal.services.policy import ANY
from portal.web.context import Context
from portal.web.render import render


@dataclass(frozen=True)
class PolicyWords:
    """Each policy field in words: section titles, role and agency-kind labels, purposes,
    "any …" for "*"; a value nothing names (a section a deployment dropped) shows as is."""

    kind: dict[str, str]
    role: dict[str, str]
    section: dict[str, str]
    purpose: dict[str, str]
    effect: dict[str, str]

    @classmethod
    def build(cls) -> PolicyWords:
        return cls(
            kind={ANY: "any kind of agency", **{k.value: k.label for k in AgencyKind}},
            role={ANY: "any role", **{r.value: r.label for r in Role}},
            section={ANY: "any section", **{s.key: s.title for s in catalogue().sections}},
            purpose={
                ANY: "any purpose",
                **{p.value: label for p, label in release_forms.PURPOSE_LABELS.items()},
            },
            effect={"allow": "Allow", "deny": "Deny"},
        )


def _page(ctx: Context, *, errors=None, status=200) -> Response:
    return render(
        ctx,
        "policy/policy.html",
        {
            "words": PolicyWords.build(),
            "defaults": policy.default_policy(),
            "lines": policy.agency_policy(ctx.db, ctx.viewer.agency),
            "errors": errors or {},
            "values": {k: ctx.field(k) for k in ("kind", "role", "section", "purpose", "effect")},
            "options": {
                "kind": policy.kinds(),
                "role": policy.roles(),
                "section": policy.sections(),
                "purpose": policy.purposes(),
                "effect": list(policy.EFFECTS),
            },
        },
        status=status,
    )


def policy_page(ctx: Context) -> Response:
    return _page(ctx)


def policy_add(ctx: Context) -> Response:
    try:
        policy.add_line(
            ctx.db,
            ctx.viewer.agency,
            kind=ctx.field("kind"),
            role=ctx.field("role"),
            section=ctx.field("section"),
            purpose=ctx.field("purpose"),
            effect=ctx.field("effect"),
            actor=ctx.viewer.user,
            at=ctx.now,
        )
    except Invalid as error:
        return _page(ctx, errors=error.errors, status=error.status_code)
    ctx.flash("The policy line was added; it applies from the next request.")
    return RedirectResponse("/agency/policy", status_code=303)


def policy_retire(ctx: Context) -> Response:
    policy.retire_line(
        ctx.db,
        ctx.viewer.agency,
        ctx.request.path_params["line_id"],
        actor=ctx.viewer.user,
        at=ctx.now,
    )
    ctx.flash("The policy line was removed; the change applies from the next request.")
    return RedirectResponse("/agency/policy", status_code=303)
