"""Consent releases, printing, minors and languages, as a reviewer suspected them.

Each test is named after what should happen, and failed on the code the reviewer read, for
the reason its comment gives. Synthetic data only."""

from __future__ import annotations

import re

from test_release_pages import Team, signed_release


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- a printed release says what it is now ---------------------------------------------


def test_a_printed_revoked_release_says_it_is_revoked_and_names_the_time_zone(
    client, db, keys, clock
):
    # Before: the printed form of a revoked release read as a valid one (nothing on the
    # paper said it was revoked: the print view never looked at its status), and "Printed
    # 2026-11-02 10:00 by ..." named no time zone (the page's footer that does is not
    # printed).
    team = Team(client, db, keys)
    url = signed_release(client, team, language="es")
    revoked = client.post(f"{url}/revoke", data={"csrf_token": team.token, "reason": "asked"})
    assert revoked.status_code == 303
    printed = _text(client.get(f"{url}/print").text)
    assert "RETIRADO (REVOCADO): este permiso fue retirado el 2026-11-02." in printed, printed
    assert "la zona horaria America/New York (EST)" in printed, printed
