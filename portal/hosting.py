"""Whether an agency's records are held on this node: the one answer the disclosure point
and the transport between nodes share."""

from __future__ import annotations

from sqlmodel import Session

from portal.db import transaction_memo
from portal.models import Agency, Node

_LOCAL = "node_is_local"  # transaction_memo: node id -> whether it is this node


def note_hosts(db: Session, hosted_here: dict[int | None, bool]) -> None:
    """What a query that read agencies with their node's row already knows (node id ->
    whether it is this node): `is_local` then reads no node row in this transaction."""
    transaction_memo(db, _LOCAL).update(hosted_here)


def is_local(db: Session, agency: Agency) -> bool:
    """True when this node hosts the agency. A node this node has no row for hosts nothing
    here: a point that cannot say where an agency's records are does not claim them."""
    # Asked for every participant of a page, more than once: the node's row is read once
    # per transaction (the identity map keeps no row nobody holds on to).
    known = transaction_memo(db, _LOCAL)
    if agency.node_id not in known:
        node = db.get(Node, agency.node_id)
        known[agency.node_id] = bool(node and node.is_local)
    return known[agency.node_id]
