"""The audit log: one function that every service calls."""

from portal.audit.chain import lock_logs
from portal.audit.log import (
    AuditTag,
    DisclosureFacts,
    actor_refs,
    entry_values,
    record,
    record_many,
)

__all__ = [
    "AuditTag",
    "DisclosureFacts",
    "actor_refs",
    "entry_values",
    "lock_logs",
    "record",
    "record_many",
]
