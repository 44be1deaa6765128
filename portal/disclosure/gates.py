"""Which gate withheld a section, and the facts of why: defined on neutral ground
(`portal.placeholders`) so that the pages and the API word them without importing the
disclosure point's internals."""

from portal.placeholders import Gate, Withholding

__all__ = ["Gate", "Withholding"]
