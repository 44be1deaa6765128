"""The audit log: one function that every service calls."""

from portal.audit.log import AuditTag, record

__all__ = ["AuditTag", "record"]
