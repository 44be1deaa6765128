"""Forms read into the typed values the services take: each field checked on its own and
every bad one reported at once (`validation.collect`), with the field names the pages show
the messages beside. What holds between values is the services' to check."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date

from portal.errors import Invalid
from portal.models import CompelledBasis
from portal.models.workflow import TaskStatus
from portal.sections import catalogue
from portal.services import validation
from portal.services.audit_log import DECISIONS, AuditFilters
from portal.services.clients import Identity
from portal.services.compelled_disclosures import CompelledDisclosureInput, check_disclosed_on
from portal.services.tasks import TaskFilter


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
            form.get("address"), "address", max_length=300, required=False, multiline=True
        ),
    )
    return Identity(**values)


def task_filter(params: Mapping[str, str]) -> TaskFilter:
    """The task list's filters (a query string); a case reference is cut to its length."""

    def optional_date(name: str) -> date | None:
        value = params.get(name)
        return validation.domain_date(value, name) if (value or "").strip() else None

    values = validation.collect(
        due_from=lambda: optional_date("due_from"),
        due_to=lambda: optional_date("due_to"),
    )
    if values["due_from"] and values["due_to"] and values["due_to"] < values["due_from"]:
        raise Invalid("due_to", "The end of the range is before its start.")
    status = params.get("status", "")
    if status not in {"", "all", *TaskStatus}:
        raise Invalid("status", "Choose a status from the list.")
    return TaskFilter(
        scope="agency" if params.get("scope") == "agency" else "mine",
        case_reference=(params.get("case") or "").strip()[:20],
        status=status,
        **values,
    )


def client_told_checks(form: Mapping[str, object]) -> dict[str, Callable[[], object]]:
    """Whether the client was told of a compelled disclosure, and why not if not: checks
    for `validation.collect`, shared by the compelled-disclosure and mandated-report forms."""

    def told() -> bool:
        answer = form.get("client_told")
        if answer not in ("yes", "no"):
            raise Invalid("client_told", "Say whether the client was told.")
        return answer == "yes"

    return dict(
        client_told=told,
        client_notice=lambda: validation.text(
            form.get("client_notice"),
            "client_notice",
            max_length=500,
            # Not telling the client is sometimes right (their safety); it is never silent.
            required=form.get("client_told") == "no",
            label="Why the client was not told",
        ),
    )


def compelled_disclosure(
    form: Mapping[str, object], *, sections: list[str], today: date
) -> CompelledDisclosureInput:
    """The client page's compelled-disclosure form; `sections`: the ones ticked."""
    known = catalogue().keys()

    def check_sections() -> tuple[str, ...]:
        chosen = [s for s in sections if isinstance(s, str) and s]
        if not chosen:
            raise Invalid("sections", "Choose what was disclosed.")
        if any(s not in known for s in chosen):
            raise Invalid("sections", "Choose sections from the list.")
        return tuple(dict.fromkeys(chosen))

    def check_day() -> date:
        day = validation.domain_date(
            form.get("disclosed_on"), "disclosed_on", label="The date of disclosure"
        )
        return check_disclosed_on(day, today)

    values = validation.collect(
        recipient=lambda: validation.text(
            form.get("recipient"), "recipient", max_length=200, label="To whom it was disclosed"
        ),
        basis=lambda: validation.member(
            form.get("basis"), "basis", CompelledBasis, label="Legal basis"
        ),
        basis_detail=lambda: validation.text(
            form.get("basis_detail"),
            "basis_detail",
            max_length=300,
            label="The order, subpoena or report",
        ),
        sections=check_sections,
        disclosed_on=check_day,
        **client_told_checks(form),
    )
    return CompelledDisclosureInput(**{**values, "client_notice": values["client_notice"] or None})
