"""Federation: the disclosure point's transport between nodes (DESIGN.md, "Federation").

The roster says which agencies are members, on which node, with which public keys; signed
HTTP messages (RFC 9421) carry a requester to an owner's node and its answer back. The
owner's node runs the same disclosure point as for a viewer of its own: a transport, not a
second implementation. Handlers (web, API, CLI) use this package; it calls the services
and the point's public functions; nothing below it imports it.
"""
