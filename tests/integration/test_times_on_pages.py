"""Pages write times as the dashboard does: in the MDT's zone, the zone named (through
`portal.web.render.local_time`). Synthetic data only."""

from __future__ import annotations

from page_text import page_text
from test_release_pages import Team, signed_release


def test_a_releases_page_names_the_zone_of_its_times_as_the_dashboard_does(client, db, keys):
    """Before: the release page wrote 'On 2026-11-02 10:00' and 'Revoked 2026-11-02 10:00'
    with no zone, where the dashboard and the screening pages write '10:00 EST'."""
    team = Team(client, db, keys)
    url = signed_release(client, team, keys=keys)
    revoked = client.post(f"{url}/revoke", data={"csrf_token": team.token, "reason": "asked"})
    assert revoked.status_code == 303
    page = page_text(client.get(url).text)
    assert "On 2026-11-02 10:00 EST, typed on a staff device" in page, page
    assert "Revoked 2026-11-02 10:00 EST by" in page, page
