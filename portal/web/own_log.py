"""Where a survivor-mentor reads and keeps their program's accompaniment log of a case.

Their agency's policy may keep the log from the case summary (`placeholders.kept_by_the_reader`);
the summary and the printed packet then say where the log is instead (cases/_decisions.html).
"""

from __future__ import annotations

from portal.auth.permissions import Permission, allows
from portal.models import MdtCase
from portal.services import mentor_caseload
from portal.web.context import Context


def where_kept(ctx: Context, case: MdtCase) -> dict | None:
    """The case's page in the viewer's caseload (`href`, with the case's `reference`) when
    they hold it, else their caseload. None for anyone who keeps no log."""
    if not allows(ctx.viewer.roles, Permission.ACCOMPANIMENT_LOG):
        return None
    if mentor_caseload.holds(ctx.db, ctx.viewer.user, case):
        return {"href": f"/mentor/cases/{case.public_id}", "reference": case.reference}
    return {"href": "/mentor", "reference": None}
