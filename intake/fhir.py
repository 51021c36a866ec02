"""Intake's rows as FHIR R4 resources: form versions as Questionnaires, completed responses as
QuestionnaireResponses, signatures as Consents with the signed PDF as their DocumentReference,
insurance cards as Coverage. Pure builders over rows already read through intake.selectors;
intake.fhir_api registers them with telehealth.fhir and validates what leaves."""

from django.conf import settings
from django.urls import reverse

from intake import canonical
from intake.models import FormVersion, InsuranceCard, Response, Signature
from intake.selectors import policy_holder
from telehealth.fhir.registry import instant

LOINC = "http://loinc.org"
PATIENT_CONSENT = {"system": LOINC, "code": "59284-0", "display": "Patient Consent"}
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
# Signed consents are one source of DocumentReferences; visit summaries will be another, with
# their own prefix, so the two kinds of id never collide.
CONSENT_DOCUMENT_PREFIX = "consent-"
# InsuranceCard.Relationship -> what the policy holder is to the patient (RelatedPerson).
HOLDER_ROLE = {
    InsuranceCard.Relationship.SPOUSE: ("SPS", "spouse"),
    InsuranceCard.Relationship.CHILD: ("PRN", "parent"),
}


def _patient(patient_id: int) -> dict:
    return {"reference": f"Patient/{patient_id}"}


def _absolute(url: str) -> str:
    """Our own routes as absolute URLs (FHIR clients resolve Attachment.url on their own)."""
    return f"{settings.SITE_URL}{url}" if url.startswith("/") else url


# Questionnaire


def questionnaire_status(version: FormVersion, *, latest_version: int) -> str:
    """A version still asked is as its definition says; a form taken out of use, or a version
    a later one replaced, is retired (responses that answered it still name it)."""
    if not version.form.is_active or version.version < latest_version:
        return "retired"
    return str(version.questionnaire.get("status") or "unknown")


def questionnaire_from_version(version: FormVersion, *, latest_version: int) -> dict:
    """The version's stored definition as published: its canonical URL and version number,
    the status it has now, the date it was saved and the practice as publisher."""
    return {
        **version.questionnaire,
        "id": str(version.pk),
        "url": questionnaire_url(version),
        "version": str(version.version),
        "status": questionnaire_status(version, latest_version=latest_version),
        "date": instant(version.created_at),
        "publisher": version.form.practice.name,
    }


def questionnaire_url(version: FormVersion) -> str:
    """The URL the version was saved under (responses name it), which services stamp on
    every version; the form's canonical URL should one ever lack it."""
    form = version.form
    return version.questionnaire.get("url") or canonical.questionnaire_url(
        form.practice.slug, form.slug
    )


def questionnaire_canonical(version: FormVersion) -> str:
    return f"{questionnaire_url(version)}|{version.version}"


# QuestionnaireResponse


def _absolute_attachments(items: list[dict]) -> list[dict]:
    out = []
    for item in items:
        item = dict(item)
        if "answer" in item:
            answers = []
            for answer in item["answer"]:
                if "valueAttachment" in answer and answer["valueAttachment"].get("url"):
                    attachment = dict(answer["valueAttachment"])
                    attachment["url"] = _absolute(attachment["url"])
                    answer = {**answer, "valueAttachment": attachment}
                answers.append(answer)
            item["answer"] = answers
        if "item" in item:
            item["item"] = _absolute_attachments(item["item"])
        out.append(item)
    return out


def questionnaire_response_from_response(response: Response) -> dict:
    """The QuestionnaireResponse built at completion, naming the version answered by the
    canonical our Questionnaire endpoint serves. Files attached to answers stay links to the
    intake download route, which checks who asks and audits the download; they are never
    inlined."""
    stored = response.resource
    resource: dict = {
        **stored,
        "id": str(response.pk),
        "meta": {"lastUpdated": instant(response.updated_at)},
        "questionnaire": questionnaire_canonical(response.form_version),
        "status": response.status,
        "subject": _patient(response.patient_id),
    }
    if response.completed_at is not None:  # the same instant; `authored` searches on it
        resource["authored"] = instant(response.completed_at)
    if stored.get("item"):
        resource["item"] = _absolute_attachments(stored["item"])
    return resource


# Consent and its DocumentReference


def consent_document_id(signature: Signature) -> str:
    return f"{CONSENT_DOCUMENT_PREFIX}{signature.pk}"


def consent_from_signature(signature: Signature, *, superseded: bool) -> dict:
    """The patient's agreement to a consent document's version: to treatment (our consents are
    the practice's terms of care, signed before visits), opted in, sourced from the signed
    PDF. A later signature of the same document makes this one inactive."""
    return {
        "resourceType": "Consent",
        "id": str(signature.pk),
        "status": "inactive" if superseded else "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "treatment"}]},
        "category": [{"coding": [PATIENT_CONSENT]}],
        "patient": _patient(signature.patient_id),
        "dateTime": instant(signature.signed_at),
        "performer": [_patient(signature.patient_id)],
        "organization": [{"reference": f"Organization/{signature.patient.practice_id}"}],
        "sourceReference": {"reference": f"DocumentReference/{consent_document_id(signature)}"},
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN"}]},
    }


def document_reference_from_signature(signature: Signature) -> dict:
    """The signed consent's PDF, by a link to the intake download route (which checks the
    caller and audits the download), never inlined."""
    consent = signature.consent
    return {
        "resourceType": "DocumentReference",
        "id": consent_document_id(signature),
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [PATIENT_CONSENT]},
        "subject": _patient(signature.patient_id),
        "date": instant(signature.signed_at),
        "author": [_patient(signature.patient_id)],
        "custodian": {"reference": f"Organization/{signature.patient.practice_id}"},
        "description": f"{consent.document.title} (version {consent.version}), signed",
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "url": _absolute(reverse("intake:signature-pdf", args=[signature.pk])),
                    "title": f"{consent.document.slug}-signed.pdf",
                    "creation": instant(signature.signed_at),
                }
            }
        ],
        "context": {"related": [{"reference": f"Consent/{signature.pk}"}]},
    }


# Coverage


def _address(address: dict) -> dict | None:
    lines = [str(address[k]) for k in ("line1", "line2") if address.get(k)]
    fields = {
        "city": address.get("city"),
        "state": address.get("state"),
        "postalCode": address.get("postal_code"),
    }
    built = {k: str(v) for k, v in fields.items() if v}
    if lines:
        built["line"] = lines  # type: ignore[assignment]
    return built or None


def _policy_holder(card: InsuranceCard) -> dict:
    """The policy holder who is not the patient, as a contained RelatedPerson."""
    holder = policy_holder(card)
    person: dict = {
        "resourceType": "RelatedPerson",
        "id": "subscriber",
        "patient": _patient(card.patient_id),
        "name": [{"text": holder.name}],
    }
    role = HOLDER_ROLE.get(InsuranceCard.Relationship(card.relationship))
    if role is not None:
        code, display = role
        person["relationship"] = [
            {"coding": [{"system": ROLE_CODE, "code": code, "display": display}]}
        ]
    if holder.sex:
        person["gender"] = holder.sex
    if holder.birth_date is not None:
        person["birthDate"] = holder.birth_date.isoformat()
    address = _address(holder.address)
    if address is not None:
        person["address"] = [address]
    return person


def coverage_from_card(card: InsuranceCard) -> dict:
    """The insurance the card shows. We know the payer only by the name the patient wrote, so
    it is a contained Organization; a card the patient has since replaced is cancelled."""
    contained = [{"resourceType": "Organization", "id": "payor", "name": card.payer}]
    if card.relationship == InsuranceCard.Relationship.SELF:
        subscriber = _patient(card.patient_id)
    else:
        contained.append(_policy_holder(card))
        subscriber = {"reference": "#subscriber"}
    resource: dict = {
        "resourceType": "Coverage",
        "id": str(card.pk),
        "contained": contained,
        "status": "active" if card.is_current else "cancelled",
        "policyHolder": subscriber,
        "subscriber": subscriber,
        "beneficiary": _patient(card.patient_id),
        "relationship": {
            "coding": [{"system": SUBSCRIBER_RELATIONSHIP, "code": card.relationship}]
        },
        "payor": [{"reference": "#payor", "display": card.payer}],
    }
    member_id = card.member_id.strip()
    if member_id:
        resource["subscriberId"] = member_id
    group = (card.group_number or "").strip()
    if group:
        resource["class"] = [
            {"type": {"coding": [{"system": COVERAGE_CLASS, "code": "group"}]}, "value": group}
        ]
    return resource
