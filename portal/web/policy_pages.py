"""An agency lead's view and edit of their own agency's disclosure policy lines."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import RedirectResponse, Response

from portal.errors import Invalid
from portal.models import AgencyKind, Role
from portal.sections import catalogue
from portal.services import legal_bases, policy, release_forms
from portal.services.policy import ANY, OWN
from portal.web import confirm_pages
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
            kind={
                ANY: "any kind of agency",
                OWN: "our own staff",
                **{k.value: k.label for k in AgencyKind},
            },
            role={ANY: "any role", **{r.value: r.label for r in Role}},
            section={ANY: "any section", **{s.key: s.title for s in catalogue().sections}},
            purpose={
                ANY: "any purpose",
                **{p.value: label for p, label in release_forms.PURPOSE_LABELS.items()},
            },
            effect={"allow": "Allow", "deny": "Deny"},
        )


def _page(ctx: Context, *, errors=None, status=200, basis_errors=None) -> Response:
    agency = ctx.viewer.agency
    return render(
        ctx,
        "policy/policy.html",
        {
            "words": PolicyWords.build(),
            # Issue 14: only a system-based agency may share under a statute.
            "bases": legal_bases.bases_of(ctx.db, agency),
            "bases_allowed": agency.kind == AgencyKind.SYSTEM,
            "basis_errors": basis_errors or {},
            "basis_values": _basis_values(ctx),
            "basis_sections": legal_bases.shareable_sections(),
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


def policy_remove_page(ctx: Context) -> Response:
    """Asks before removing a line: what it did stops at the next request."""
    line = policy.active_line(ctx.db, ctx.viewer.agency, ctx.request.path_params["line_id"])
    words = PolicyWords.build()
    said = (
        f"{words.effect[line.effect]} {words.section.get(line.section_key, line.section_key)} "
        f"to {words.role.get(line.recipient_role, line.recipient_role)} at "
        f"{words.kind.get(line.recipient_kind, line.recipient_kind)}, for "
        f"{words.purpose.get(line.purpose, line.purpose)}"
    )
    follows = (
        "What it withheld is released from the next request wherever another line and the "
        "survivor's release allow it: partners may see it at once."
        if line.effect == "deny"
        else "What it released is withheld from the next request wherever no other line "
        "releases it."
    )
    return confirm_pages.page(
        ctx,
        confirm_pages.Confirm(
            title="Remove this policy line?",
            consequences=[
                f"“{said}” stops applying.",
                follows,
                "The line stays on record in the audit log; add it again to restore it.",
            ],
            action=f"/agency/policy/{line.public_id}/remove",
            button="Remove the line",
            back="/agency/policy",
            back_label="Back to the policy",
            keep="Keep the line",
        ),
    )


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


def _basis_values(ctx: Context) -> dict:
    """The basis form's values: as typed after a refusal, else the defaults (for minors,
    under the node's age of majority)."""
    if ctx.request.method != "POST":
        return {
            "citation": "",
            "sections": [],
            "purpose": "",
            "minors_only": True,
            "under_age": ctx.settings.age_of_majority,
        }
    return {
        "citation": ctx.field("citation"),
        "sections": ctx.fields("sections"),
        "purpose": ctx.field("basis_purpose"),
        "minors_only": ctx.field("minors_only") == "yes",
        "under_age": ctx.field("under_age"),
    }


def legal_basis_add(ctx: Context) -> Response:
    try:
        legal_bases.record_basis(
            ctx.db,
            ctx.viewer.agency,
            citation=ctx.field("citation"),
            sections=ctx.fields("sections"),
            purpose=ctx.field("basis_purpose"),
            minors_only=ctx.field("minors_only") == "yes",
            under_age=ctx.field("under_age"),
            actor=ctx.viewer.user,
            keys=ctx.request.app.state.keys,
            at=ctx.now,
        )
    except Invalid as error:
        return _page(ctx, basis_errors=error.errors, status=error.status_code)
    ctx.flash("The legal basis is recorded and signed; it applies from the next request.")
    return RedirectResponse("/agency/policy#bases-h", status_code=303)


def legal_basis_retire_page(ctx: Context) -> Response:
    """Asks before retiring a legal basis: releases alone count from the next request."""
    basis = legal_bases.active_basis(ctx.db, ctx.viewer.agency, ctx.request.path_params["basis_id"])
    return confirm_pages.page(
        ctx,
        confirm_pages.Confirm(
            title=f"Retire {basis.citation}?",
            consequences=[
                f"From the next request, {basis.citation} no longer stands in for a survivor's "
                "release: what it let partners read is withheld again unless a release covers it.",
                "It cannot be undone: record the basis again to rely on it anew.",
            ],
            action=f"/agency/policy/legal-bases/{basis.public_id}/retire",
            button="Retire the basis",
            back="/agency/policy#bases-h",
            back_label="Back to the policy",
            keep="Keep the basis",
        ),
    )


def legal_basis_retire(ctx: Context) -> Response:
    legal_bases.retire_basis(
        ctx.db,
        ctx.viewer.agency,
        ctx.request.path_params["basis_id"],
        actor=ctx.viewer.user,
        at=ctx.now,
    )
    ctx.flash("The legal basis is retired; from the next request only releases count.")
    return RedirectResponse("/agency/policy#bases-h", status_code=303)
