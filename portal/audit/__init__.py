"""The audit log: one function that every service calls."""

from portal.audit.chain import lock_logs
from portal.audit.log import AuditTag, DisclosureFacts, record

__all__ = ["AuditTag", "DisclosureFacts", "lock_logs", "record"]
