"""The audit log: one function that every service calls."""

from portal.audit.log import AuditTag, DisclosureFacts, record

__all__ = ["AuditTag", "DisclosureFacts", "record"]
