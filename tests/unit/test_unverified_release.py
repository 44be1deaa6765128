"""A release that does not verify (its sealed document does not open for its row, or its
document was altered after signing) is listed as not verified and not in force, beside the
client's other releases; it counts as no release wherever a release's standing is read.
Synthetic data only."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from disclosure_helpers import release
from tamper_helpers import altered, unsealable
from test_sealed_releases import _medical, _released_world

from portal.disclosure import Released, Withheld
from portal.models import ConsentRelease
from portal.services import releases

import factories as make

LATER = make.AT + timedelta(hours=1)


@pytest.mark.parametrize("tamper", ["unsealable", "altered"])
def test_one_release_that_does_not_verify_is_listed_as_such_beside_the_others(db, keys, tamper):
    w, medical = _released_world(db, keys)
    other = release(db, keys, w, ["safety_plan"])
    if tamper == "unsealable":
        unsealable(db, medical)
    else:
        altered(db, keys, medical)
    rows = {
        shown.row.id: shown
        for shown in releases.release_rows(db, w.client, keys=keys, at=LATER, tz=UTC)
    }
    assert rows[medical.id].verified is False and rows[medical.id].status is None
    assert rows[other.id].verified is True
    assert rows[other.id].status.state.value == "active"
    with pytest.raises(releases.Unverified) as refused:
        releases.status_of(db, db.get(ConsentRelease, medical.id), keys=keys, at=LATER)
    assert refused.value.status_code == 409
    # ...and it releases nothing: deny by default, as before
    assert isinstance(_medical(db, keys, w), Withheld)


def test_an_altered_release_is_not_in_force_for_the_minor_now_adult_notice(db, keys):
    w, _expired_by_then = _released_world(db, keys)  # signed as a minor, with a guardian
    adult = LATER.replace(year=LATER.year + 8)
    assert releases.signed_as_minor_now_adult(db, w.client, keys=keys, at=adult) == []
    expiry_far = release(db, keys, w, ["medical"], days=365 * 10)
    assert [
        r.id for r in releases.signed_as_minor_now_adult(db, w.client, keys=keys, at=adult)
    ] == [expiry_far.id]
    altered(db, keys, expiry_far)
    assert releases.signed_as_minor_now_adult(db, w.client, keys=keys, at=adult) == []


def test_an_untampered_release_still_releases(db, keys):
    w, _medical_release = _released_world(db, keys)
    assert isinstance(_medical(db, keys, w), Released)
