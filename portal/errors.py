"""Typed domain errors; one exception handler maps them to responses."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400


class NotFound(DomainError):
    """Missing, or not the viewer's to see: the two are never told apart."""

    status_code = 404

    def __init__(self, what: str = "page") -> None:
        super().__init__(f"No such {what}.")


class Forbidden(DomainError):
    status_code = 403

    def __init__(self, message: str = "You do not have permission to do that.") -> None:
        super().__init__(message)


class Invalid(DomainError):
    """One or more fields are wrong; each carries a message meant for the person typing."""

    status_code = 400

    def __init__(self, field: str | None = None, message: str | None = None) -> None:
        self.errors: dict[str, str] = {}
        if field is not None:
            self.errors[field] = message or "This value is not valid."
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))

    @classmethod
    def of(cls, errors: dict[str, str]) -> Invalid:
        error = cls()
        error.errors = dict(errors)
        error.args = ("; ".join(f"{k}: {v}" for k, v in errors.items()),)
        return error


class Conflict(Invalid):
    status_code = 409


class Unprocessable(Invalid):
    """Well-formed, but not something this agency can do (e.g. a section outside its
    discipline)."""

    status_code = 422


class TooManyAttempts(DomainError):
    status_code = 429
