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
from portal.audit.rechecks import ChangedMeanwhile, recheck_under_lock
from portal.audit.revoked import RevokedMeanwhile, effective_after_disclosures

__all__ = [
    "AuditActor",
    "AuditTag",
    "ChangedMeanwhile",
    "DisclosureFacts",
    "RevokedMeanwhile",
    "acting_through",
    "actor_refs",
    "effective_after_disclosures",
    "entry_values",
    "lock_logs",
    "recheck_under_lock",
    "record",
    "record_many",
    "takes_behind",
]
