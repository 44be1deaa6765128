"""A release's status in the words of the page's reader (issue 19).

The consent library says a status in English with ISO dates, as staff pages show it; a
page read with the survivor (one naming a `language`) says the same state and reason
through the catalogues, its date written out in that language.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

import consent
from portal import i18n
from portal.i18n import N_

STATE_LABELS = {
    consent.ReleaseState.NOT_YET_EFFECTIVE: N_("Not yet effective"),
    consent.ReleaseState.ACTIVE: N_("Active"),
    consent.ReleaseState.EXPIRED: N_("Expired"),
    consent.ReleaseState.REVOKED: N_("Revoked"),
}
REASONS = {
    consent.ReleaseState.NOT_YET_EFFECTIVE: N_("the release takes effect on %(date)s"),
    consent.ReleaseState.ACTIVE: N_("the release is in effect until %(date)s"),
    consent.ReleaseState.EXPIRED: N_("the release expired on %(date)s"),
    consent.ReleaseState.REVOKED: N_("the release was revoked on %(date)s"),
}
NO_END_DATE = N_("the release has no end date, so it cannot be used")


def state_label(language: str | None, status: consent.ReleaseStatus) -> str:
    return i18n.gettext(language, STATE_LABELS[status.state])


def reason(language: str | None, status: consent.ReleaseStatus, tz: tzinfo) -> str:
    """Why the release is in its state; on a staff page (no language) the library's words."""
    if language is None:
        return status.reason
    if status.on is None:
        return i18n.gettext(language, NO_END_DATE)
    return i18n.gettext(language, REASONS[status.state]) % {
        "date": written_moment(language, status.on, tz)
    }


def written_moment(language: str, moment: datetime, tz: tzinfo) -> str:
    """The day in the language's words, with the time and zone only when it is not
    midnight in the MDT's zone (as the library writes it: a release's last day is a
    calendar day there)."""
    local = moment.astimezone(tz)
    day = i18n.written_date(language, local.date())
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return day
    return f"{day}, {i18n.written_time(language, local.time())} {local.tzname()}"
