"""The lifecycle of keys and sealed records, as a second review found it, through the pages
and the command line. Each test is named after what should happen, and failed on the code
as reviewed. Synthetic data only."""

from __future__ import annotations

from test_screening_review_findings import _form_fields

from portal.services import keys as agency_keys
from portal.services import reseal, risk_screens
from portal.web import screening_forms


def _reseal_all(db, keys, clock) -> None:
    """`portal keys reseal`: every kind, batch after batch."""
    for kind in reseal.KINDS:
        after = 0
        while after is not None:
            after = reseal.reseal_batch(
                db, kind, after=after, size=50, keys=keys, at=clock()
            ).last_id


def test_a_risk_screen_form_opened_before_a_reseal_saves_the_workers_notes(client, db, keys, clock):
    """Before: a risk screen's form carries a digest of the notes' *sealed* bytes
    (`risk_screens.notes_fingerprint`) to tell a colleague's save since. `portal keys
    reseal` (after `portal keys rotate-data`, ops/README §5) seals the same notes again,
    new bytes: a worker who opened the form before it and saves the survivor's risks is
    told "A colleague saved this risk screen after you opened it, and nothing of yours was
    saved", though nobody did, and the notes she typed are not kept."""
    from test_screening_pages import _screened

    agency, user, survivor, _, _ = _screened(client, db, keys, clock, finalised=True)
    screen = risk_screens.open_clock(db, survivor)
    given = screening_forms.read_risk_notes(
        {"survivor_notes": "First risk notes (synthetic)"}, people=[]
    )
    risk_screens.record_screen(db, screen, given=given, actor=user, keys=keys, at=clock())
    db.flush()
    url = f"/clients/{survivor.public_id}/risk-screens/{screen.public_id}"
    opened = _form_fields(client.get(url).text, url)
    db.expire_all()  # the page's read moved the log's head
    # The operator, meanwhile: a new data key, and every record moved onto it.
    agency_keys.rotate_data_key(db, agency, keys=keys, actor=None, at=clock())
    _reseal_all(db, keys, clock)
    db.flush()
    answer = client.post(url, data={**opened, "survivor_notes": "Her own words (synthetic)"})
    assert answer.status_code == 303, f"answered {answer.status_code}: " + (
        "told a colleague saved it" if "A colleague saved" in answer.text else answer.text[:200]
    )
    db.expire_all()
    assert "Her own words" in risk_screens.view(db, screen, keys=keys, now=clock()).survivor_notes
