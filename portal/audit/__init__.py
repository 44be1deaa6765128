"""The audit log: one function that every service calls."""

from portal.audit.chain import lock_logs
from portal.audit.lock_order import takes_behind
from portal.audit.log import (
    AuditActor,
    AuditTag,
    DisclosureFacts,
    acting_through,
    actor_refs,
    entry_values,
    record,
    record_many,
)

__all__ = [
    "AuditActor",
    "AuditTag",
    "DisclosureFacts",
    "acting_through",
    "actor_refs",
    "entry_values",
    "lock_logs",
    "record",
    "record_many",
    "takes_behind",
]
