"""The FHIR R4 Consent export validates and carries the release's recipients, sections, period."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from fhir.resources.R4B.consent import Consent

from consent import EventExpiry, sign_release, to_fhir_consent, verify

from consent_fixtures import (
    AGENCY_NAMES,
    COMMUNITY,
    DISCLOSER,
    HARBOR_KEY,
    HARBOR_KID,
    SYSTEM,
    build_keyring,
    build_release,
)


def export(**changes) -> dict:
    signed = sign_release(build_release(**changes), HARBOR_KEY, HARBOR_KID)
    return to_fhir_consent(signed, agency_names=AGENCY_NAMES)


def test_export_round_trips_through_the_model() -> None:
    resource = export()
    assert resource["resourceType"] == "Consent"
    again = Consent.model_validate(resource)
    assert json.loads(again.model_dump_json()) == resource


def test_export_carries_recipients_sections_and_period() -> None:
    resource = export()
    provision = resource["provision"]
    recipients = [actor["reference"]["identifier"]["value"] for actor in provision["actor"]]
    assert recipients == [COMMUNITY, SYSTEM]
    assert {actor["role"]["coding"][0]["code"] for actor in provision["actor"]} == {"IRCP"}
    assert [c["code"] for c in provision["class"]] == ["contact", "safety_plan"]
    assert provision["period"] == {"start": "2026-01-10T09:00:00Z", "end": "2026-03-01T00:00:00Z"}
    assert provision["purpose"][0]["code"] == "care_coordination"
    assert resource["organization"][0]["identifier"]["value"] == DISCLOSER
    assert resource["patient"]["identifier"]["value"] == "client-0042"
    assert resource["category"][0]["coding"][0]["code"] == "59284-0"
    assert resource["dateTime"] == "2026-01-10T09:00:00Z"


def test_event_expiry_exports_latest_at_as_period_end() -> None:
    latest = datetime(2026, 6, 1, tzinfo=UTC)
    resource = export(expiry=EventExpiry(event="case closed", latest_at=latest))
    assert resource["provision"]["period"]["end"] == "2026-06-01T00:00:00Z"


def test_source_attachment_is_the_signed_envelope() -> None:
    attachment = export()["sourceAttachment"]
    envelope = json.loads(base64.b64decode(attachment["data"]))
    assert verify(envelope, build_keyring(), at=datetime(2026, 2, 1, tzinfo=UTC)).ok
    assert HARBOR_KID in attachment["title"]
