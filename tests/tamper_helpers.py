"""A database writer with no key tampers with a signed release's row (synthetic data)."""

import json
import re

from sqlalchemy import update

from portal.disclosure.sealed_releases import release_text
from portal.models import ConsentRelease


def unsealable(db, row: ConsentRelease) -> None:
    """Its sealed document replaced by bytes that open as nothing."""
    db.execute(
        update(ConsentRelease)
        .where(ConsentRelease.id == row.id)
        .values(document_sealed=b"B1" + bytes(60))
    )
    db.flush()
    db.expire_all()


def altered(db, keys, row: ConsentRelease) -> None:
    """Kept in clear (as rows written before documents were sealed are), with its end moved
    to 2045: it opens, and its signature no longer matches what it says."""
    envelope = json.loads(release_text(db, row, keys=keys))
    envelope["release"]["expiry"]["at"] = "2045-12-31T00:00:00Z"
    db.execute(
        update(ConsentRelease)
        .where(ConsentRelease.id == row.id)
        .values(document=json.dumps(envelope), document_sealed=None, data_key_id=None)
    )
    db.flush()
    db.expire_all()


def moved(db, keys, source: ConsentRelease, onto: ConsentRelease) -> None:
    """`source`'s signed document, genuine, written in clear onto `onto`'s row (as a row
    written before documents were sealed keeps it): it opens and verifies, as another
    release's."""
    text = release_text(db, source, keys=keys)
    db.execute(
        update(ConsentRelease)
        .where(ConsentRelease.id == onto.id)
        .values(document=text, document_sealed=None, data_key_id=None)
    )
    db.flush()
    db.expire_all()


# A public id (a UUID) may hold the digits 2045 by chance: the ids are not the end date.
_PUBLIC_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def shows_the_altered_end(page: str) -> bool:
    """Whether the page shows the end the tampering wrote (2045, `altered`)."""
    return "2045" in _PUBLIC_ID.sub("", page)
