"""Who is asking: one typed value, the same for a local viewer and a remote node's.

It is exactly what a signed node-to-node request carries (DESIGN.md, "Requester"), so the
disclosure point cannot tell a viewer on this node from one on another. Web, API, CLI and
tests build it; everything below the handlers takes it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

LOCAL_NODE = "local"  # this node, until the roster names nodes (federation)
DEFAULT_PURPOSE = "mdt_case_review"


@dataclass(frozen=True, slots=True)
class Requester:
    node: str
    agency: str  # the requesting agency's public id
    agency_kind: str  # community | system
    user: str | None  # the staff user's public id; None for the system itself
    roles: frozenset[str]
    purpose: str = DEFAULT_PURPOSE
    # The API token's public id when the person acts through one (`user` is then the lead
    # who issued it, and `roles` the one role it acts in): every audit entry names it.
    via: str | None = None

    def asking(self, purpose: str) -> Requester:
        """The same person asking for another purpose."""
        return replace(self, purpose=purpose)

    def audit_role(self, role: str | None = None) -> str | None:
        """The role an audit entry names: the one a decision was made for, else every role
        the requester holds (the column holds 30 characters)."""
        return role or ",".join(sorted(self.roles))[:30] or None

    @classmethod
    def of(
        cls, user, agency, roles, *, purpose: str = DEFAULT_PURPOSE, via: str | None = None
    ) -> Requester:
        """From this node's rows: a staff user (or None), their agency and their roles."""
        return cls(
            node=LOCAL_NODE,
            agency=agency.public_id,
            agency_kind=agency.kind,
            user=getattr(user, "public_id", None),
            roles=frozenset(str(role) for role in roles),
            purpose=purpose,
            via=via,
        )
