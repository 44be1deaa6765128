"""Export a signed release as a FHIR R4 Consent resource (R4B model, same Consent structure)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from fhir.resources.R4B.consent import Consent

from consent.canonical import canonical_bytes
from consent.document import Capacity, Purpose, format_time
from consent.signing import SignedRelease
from consent.status import release_end

# Local code systems: the portal's own vocabularies, named as URNs so they never pose
# as an HL7 terminology.
AGENCY_SYSTEM = "urn:mdt-portal:agency"
RELEASE_SYSTEM = "urn:mdt-portal:release"
SECTION_SYSTEM = "urn:mdt-portal:section"
PURPOSE_SYSTEM = "urn:mdt-portal:purpose"

V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"

# Only purposes with a faithful HL7 equivalent get one; referral keeps the local code alone.
_HL7_PURPOSE = {
    Purpose.MDT_CASE_REVIEW: ("COC", "coordination of care"),
    Purpose.CARE_COORDINATION: ("COC", "coordination of care"),
}


def to_fhir_consent(
    signed_release: SignedRelease, *, agency_names: Mapping[str, str]
) -> dict[str, Any]:
    """A FHIR R4 Consent for the release, validated by fhir.resources, as a JSON-ready dict."""
    release = signed_release.release
    envelope = signed_release.to_dict()

    def agency(agency_id: str) -> dict[str, Any]:
        return {
            "identifier": {"system": AGENCY_SYSTEM, "value": agency_id},
            "display": agency_names.get(agency_id, agency_id),
        }

    client = {
        "identifier": {
            "system": f"{AGENCY_SYSTEM}:{release.disclosing_agency}:client",
            "value": release.client_ref,
        }
    }
    performers = []
    for signer in (release.signer, release.second_signer):
        if signer is None:
            continue
        if signer.capacity is Capacity.SELF:
            performers.append(client)
        else:
            performers.append(
                {"type": "RelatedPerson", "display": f"{signer.name} ({signer.capacity.value})"}
            )

    purposes = []
    for purpose in (release.purpose,):
        purposes.append({"system": PURPOSE_SYSTEM, "code": purpose.value, "display": purpose.label})
        if purpose in _HL7_PURPOSE:
            code, display = _HL7_PURPOSE[purpose]
            purposes.append({"system": V3_ACT_REASON, "code": code, "display": display})

    period: dict[str, str] = {"start": format_time(release.effective_at)}
    end = release_end(release)
    if end is not None:
        period["end"] = format_time(end)

    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "identifier": [{"system": RELEASE_SYSTEM, "value": release.release_id}],
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                    "display": "Privacy Consent",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {"system": "http://loinc.org", "code": "59284-0", "display": "Consent Document"}
                ]
            }
        ],
        "patient": client,
        "organization": [agency(release.disclosing_agency)],
        "policyRule": {
            "coding": [{"system": V3_ACT_CODE, "code": "42CFRPart2", "display": "42 CFR Part2"}]
        },
        "sourceAttachment": {
            # The signed envelope itself travels with the export, so a receiver can verify
            # the original rather than trust this translation.
            "contentType": "application/json",
            "data": base64.b64encode(canonical_bytes(envelope)).decode("ascii"),
            "title": f"Signed release (RFC 8785 JSON, Ed25519, key {signed_release.key_id})",
        },
        "provision": {
            "type": "permit",
            "period": period,
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": V3_PARTICIPATION,
                                "code": "IRCP",
                                "display": "information recipient",
                            }
                        ]
                    },
                    "reference": agency(recipient),
                }
                for recipient in release.recipients
            ],
            "action": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/consentaction",
                            "code": "disclose",
                            "display": "Disclose",
                        }
                    ]
                }
            ],
            "securityLabel": [{"system": V3_CONFIDENTIALITY, "code": "R", "display": "restricted"}],
            "purpose": purposes,
            "class": [{"system": SECTION_SYSTEM, "code": section} for section in release.sections],
        },
    }
    if performers:
        resource["performer"] = performers
    if release.signed_at is not None:
        resource["dateTime"] = format_time(release.signed_at)
    if release.language:
        resource["language"] = release.language
    consent = Consent.model_validate(resource)
    return json.loads(consent.model_dump_json())
