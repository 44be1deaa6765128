"""Forms read into the typed values the services take: each field checked on its own and
every bad one reported at once (`validation.collect`), with the field names the pages show
the messages beside. What holds between values is the services' to check."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from portal.errors import Invalid
from portal.sections import catalogue
from portal.services import validation
from portal.services.audit_log import DECISIONS, AuditFilters
from portal.services.clients import Identity


def audit_filters(params: Mapping[str, str]) -> AuditFilters:
    """The audit log's search form (a query string)."""

    def optional_date(name: str, label: str) -> date | None:
        raw = (params.get(name) or "").strip()
        return validation.domain_date(raw, name, label=label) if raw else None

    def one_of(name: str, options, label: str) -> str:
        value = (params.get(name) or "").strip()
        if value and value not in options:
            raise Invalid(name, f"Choose a {label} from the list.")
        return value

    values = validation.collect(
        user=lambda: validation.text(
            params.get("user", ""), "user", max_length=64, required=False, label="User"
        ).casefold(),
        viewer_agency=lambda: validation.text(
            params.get("viewer_agency", ""),
            "viewer_agency",
            max_length=36,
            required=False,
            label="Viewer agency",
        ),
        case_ref=lambda: validation.text(
            params.get("case_ref", ""), "case_ref", max_length=20, required=False, label="Case"
        ).upper(),
        section=lambda: one_of("section", catalogue().keys(), "section"),
        decision=lambda: one_of("decision", DECISIONS, "decision"),
        date_from=lambda: optional_date("date_from", "From"),
        date_to=lambda: optional_date("date_to", "To"),
    )
    return AuditFilters(**values)  # a range that ends before it starts is refused there


def identity(form: Mapping[str, object]) -> Identity:
    """A client's identity, from the register form."""
    values = validation.collect(
        given_name=lambda: validation.text(form.get("given_name"), "given_name", max_length=80),
        family_name=lambda: validation.text(form.get("family_name"), "family_name", max_length=80),
        birth_date=lambda: validation.iso_date(form.get("birth_date"), "birth_date"),
        phone=lambda: validation.text(form.get("phone"), "phone", max_length=40, required=False),
        email=lambda: validation.text(form.get("email"), "email", max_length=120, required=False),
        address=lambda: validation.text(
            form.get("address"), "address", max_length=300, required=False
        ),
    )
    return Identity(**values)
