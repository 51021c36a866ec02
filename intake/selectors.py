"""Reads of intake. What a patient is asked to fill, their intake status, and a readable
summary for staff. Clinicians (on the care team) and admins read answers; the front desk
sees status, insurance and consents, not clinical answers."""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import OuterRef, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from intake import canonical
from intake import questionnaire as fhirq
from intake.models import (
    ConsentDocument,
    Form,
    FormVersion,
    InsuranceCard,
    Response,
    ResponseFile,
    Signature,
)
from scheduling.models import ACTIVE_STATUSES, Appointment
from telehealth.accounts.models import Patient, Practice, Role, User
from telehealth.accounts.selectors import patients_visible_to

NOT_STARTED, PARTIAL, COMPLETE = "not_started", "partial", "complete"


def forms_asked(patient: Patient) -> list[Form]:
    """The active forms of the visit types of the patient's upcoming appointments; with none
    booked, the practice's medical history."""
    types = Appointment.objects.filter(
        patient=patient, status__in=ACTIVE_STATUSES, start__gt=timezone.now()
    ).values("appointment_type_id")
    forms = list(
        Form.objects.filter(
            practice_id=patient.practice_id, is_active=True, appointment_types__in=types
        ).distinct()
    )
    if not forms:
        forms = list(
            Form.objects.filter(
                practice_id=patient.practice_id, is_active=True, slug="medical-history"
            )
        )
    return forms


def consents_asked(patient: Patient) -> list[ConsentDocument]:
    return list(
        ConsentDocument.objects.filter(practice_id=patient.practice_id, required_for_visits=True)
    )


def latest_responses(patient: Patient) -> dict[int, Response]:
    """form id -> the patient's newest response to it (completed preferred)."""
    found: dict[int, Response] = {}
    for response in (
        Response.objects.filter(patient=patient)
        .select_related("form_version__form")
        .order_by("started_at")
    ):
        form_id = response.form_version.form_id
        current = found.get(form_id)
        if (
            current is None
            or response.status == Response.Status.COMPLETED
            or (current.status != Response.Status.COMPLETED)
        ):
            found[form_id] = response
    return found


def latest_signatures(patient: Patient) -> dict[int, Signature]:
    """consent document id -> the patient's newest signature of it."""
    found: dict[int, Signature] = {}
    for signature in (
        Signature.objects.filter(patient=patient).select_related("consent").order_by("signed_at")
    ):
        found[signature.consent.document_id] = signature
    return found


@dataclass
class Checklist:
    status: str
    forms: list[tuple[Form, Response | None]] = field(default_factory=list)
    consents: list[tuple[ConsentDocument, Signature | None]] = field(default_factory=list)
    insurance: InsuranceCard | None = None


def current_insurance_card(patient: Patient) -> InsuranceCard | None:
    """The card the patient gave last and still uses, if any."""
    return InsuranceCard.objects.filter(patient=patient, is_current=True).first()


def insurance_card_on(patient: Patient, *, before: datetime) -> InsuranceCard | None:
    """The card the patient had given by `before` (the end of a date of service), the last
    one given then, even if a newer card has since replaced it; the current card when none
    had been given yet (the patient filled in intake after the visit)."""
    given = InsuranceCard.objects.filter(patient=patient, created_at__lt=before)
    return given.order_by("-created_at", "-pk").first() or current_insurance_card(patient)


@dataclass(frozen=True)
class PolicyHolder:
    """Who the insurance card's policy is in the name of, with what a claim's subscriber loop
    needs: the patient themselves ("self"), or another person whose details the patient gave.
    Missing details are empty (birth_date None, sex "", address {}) and `missing` names them."""

    name: str
    birth_date: date | None
    sex: str  # accounts' Sex value: female, male, other, unknown
    address: dict  # {line1, line2, city, state, postal_code}
    relationship: str  # InsuranceCard.Relationship
    is_patient: bool
    missing: tuple[str, ...] = ()


ADDRESS_PARTS = ("line1", "city", "state", "postal_code")


def policy_holder(card: InsuranceCard) -> PolicyHolder:
    """The card's policy holder. For "self" the patient's own record (name, date of birth, sex,
    address) is used; otherwise what the patient gave for the policy holder on the card."""
    if card.relationship == InsuranceCard.Relationship.SELF:
        patient = card.patient
        name, born, sex = patient.legal_name, patient.date_of_birth, patient.sex
        address = dict(patient.address or {})
    else:
        name, sex = card.subscriber_name, card.subscriber_sex
        address = dict(card.subscriber_address or {})
        try:
            born = date.fromisoformat(card.subscriber_birth_date)
        except (TypeError, ValueError):
            born = None
    missing = [
        label
        for label, present in (
            (_("date of birth"), born is not None),
            (_("sex"), bool(sex)),
            (_("address"), all(address.get(part) for part in ADDRESS_PARTS)),
        )
        if not present
    ]
    return PolicyHolder(
        name=name,
        birth_date=born,
        sex=sex,
        address=address,
        relationship=card.relationship,
        is_patient=card.relationship == InsuranceCard.Relationship.SELF,
        missing=tuple(missing),
    )


@dataclass(frozen=True)
class ClaimInsurance:
    """What a claim takes from the patient's current insurance card."""

    payer: str  # the insurer's name as the patient wrote it
    member_id: str
    group_number: str
    holder: PolicyHolder


def claim_insurance(patient: Patient) -> ClaimInsurance | None:
    """The current card as a claim needs it, or None when the patient gave no card."""
    return claim_insurances([patient]).get(patient.pk)


def claim_insurances(patients: Iterable[Patient]) -> dict[int, ClaimInsurance]:
    """claim_insurance for many patients in one query, by patient id (absent: no card)."""
    by_id = {patient.pk: patient for patient in patients}
    found: dict[int, ClaimInsurance] = {}
    cards = InsuranceCard.objects.filter(patient_id__in=by_id, is_current=True)
    for card in cards.order_by("patient_id", "-created_at"):
        if card.patient_id in found:
            continue  # an older card still marked current: the newest wins, as first() does
        card.patient = by_id[card.patient_id]
        found[card.patient_id] = _claim_insurance(card)
    return found


def claim_insurances_on(
    wanted: Iterable[tuple[Patient, datetime]],
) -> dict[tuple[int, datetime], ClaimInsurance]:
    """What a claim takes from the card each patient had given by `before` (the end of the
    date of service), chosen as `insurance_card_on` chooses it, for many (patient, before)
    pairs in one query; by (patient id, before), absent when the patient gave no card."""
    pairs = list(wanted)
    by_id = {patient.pk: patient for patient, _before in pairs}
    cards: dict[int, list[InsuranceCard]] = {}
    rows = InsuranceCard.objects.filter(patient_id__in=by_id).order_by("-created_at", "-pk")
    for card in rows:
        cards.setdefault(card.patient_id, []).append(card)
    found: dict[tuple[int, datetime], ClaimInsurance] = {}
    for patient, before in pairs:
        chosen = card_on(cards.get(patient.pk, []), before=before)
        if chosen is not None:
            chosen.patient = patient
            found[(patient.pk, before)] = _claim_insurance(chosen)
    return found


def card_on(cards: Iterable[InsuranceCard], *, before: datetime) -> InsuranceCard | None:
    """`insurance_card_on` among a patient's cards already read, newest first (-created_at,
    -pk): for reads of many patients' cards at once."""
    given = list(cards)
    return next((c for c in given if c.created_at < before), None) or next(
        (c for c in given if c.is_current), None
    )


def _claim_insurance(card: InsuranceCard) -> ClaimInsurance:
    return ClaimInsurance(
        payer=card.payer,
        member_id=card.member_id.strip(),
        group_number=(card.group_number or "").strip(),
        holder=policy_holder(card),
    )


def current_insurance_cards(patient_ids: Iterable[int]) -> dict[int, InsuranceCard]:
    """`current_insurance_card` of many patients at once, by patient id (those with none are
    left out): for periodic jobs that work through patients in batches."""
    cards: dict[int, InsuranceCard] = {}
    for card in InsuranceCard.objects.filter(patient_id__in=set(patient_ids), is_current=True):
        cards.setdefault(card.patient_id, card)
    return cards


def checklist(patient: Patient) -> Checklist:
    responses = latest_responses(patient)
    signed = latest_signatures(patient)
    forms = [(form, responses.get(form.pk)) for form in forms_asked(patient)]
    consents = [(doc, signed.get(doc.pk)) for doc in consents_asked(patient)]
    insurance = current_insurance_card(patient)
    done = [r is not None and r.status == Response.Status.COMPLETED for _, r in forms] + [
        signature is not None for _, signature in consents
    ]
    if done and all(done):
        status = COMPLETE
    elif any(done) or any(r is not None for _, r in forms):
        status = PARTIAL
    else:
        status = NOT_STARTED
    return Checklist(status=status, forms=forms, consents=consents, insurance=insurance)


def status_of(patient: Patient) -> str:
    return checklist(patient).status


def can_read_answers(user: User) -> bool:
    return user.role in (Role.CLINICIAN, Role.PRACTICE_ADMIN)


@dataclass
class Answered:
    form: Form
    response: Response
    rows: list[tuple[str, str, str]]
    score: dict


def readable(response: Response) -> list[tuple[str, str, str]]:
    """(question, answer, file link or "") in the form's order, choices by their labels."""
    definition = response.form_version.questionnaire
    stored = response.answers or {}
    rows = []
    for item in fhirq.questions(definition):
        values = stored.get(item["linkId"])
        if not values:
            continue
        labels = {
            str(fhirq.option_value(o)): fhirq.option_label(o) for o in item.get("answerOption", [])
        }
        shown = []
        url = ""
        for value in values:
            if item["type"] == "attachment":
                shown.append(_file_name(response, str(value)))
                url = reverse("intake:file", args=[str(value).removeprefix("file:")])
            elif isinstance(value, bool):
                shown.append(_("Yes") if value else _("No"))
            else:
                shown.append(labels.get(str(value), str(value)))
        rows.append((item.get("text", item["linkId"]), ", ".join(shown), url))
    return rows


def _file_name(response: Response, value: str) -> str:
    found = response.files.filter(pk=value.removeprefix("file:")).first()
    return _("Attached file: %(name)s") % {"name": found.name} if found else value


def summary(*, user: User, patient: Patient) -> list[Answered]:
    """The patient's completed forms, newest version answered, with scores."""
    if not can_read_answers(user):
        return []
    answered = []
    for _form_id, response in latest_responses(patient).items():
        if response.status != Response.Status.COMPLETED:
            continue
        answered.append(
            Answered(
                form=response.form_version.form,
                response=response,
                rows=readable(response),
                score=response.scores or {},
            )
        )
    return sorted(answered, key=lambda a: a.form.title)


def access_patient_intake(*, user: User, patient_id: int) -> Patient:
    return get_object_or_404(patients_visible_to(user), pk=patient_id)


def cards_visible_to(user: User) -> QuerySet[InsuranceCard]:
    if user.role == Role.PATIENT:
        return InsuranceCard.objects.filter(patient__user=user)
    return InsuranceCard.objects.filter(patient__in=patients_visible_to(user))


def signatures_visible_to(user: User) -> QuerySet[Signature]:
    if user.role == Role.PATIENT:
        return Signature.objects.filter(patient__user=user)
    return Signature.objects.filter(patient__in=patients_visible_to(user))


def response_files_visible_to(user: User) -> QuerySet[ResponseFile]:
    """Files attached to answers, for staff: they are answers, so the front desk sees none."""
    if not can_read_answers(user):
        return ResponseFile.objects.none()
    return ResponseFile.objects.filter(response__patient__in=patients_visible_to(user))


def questionnaires_visible_to(user: User) -> QuerySet[FormVersion]:
    """Every saved version of the forms of the user's practice (staff of it, or its patients),
    each with `latest_version`, its form's newest version number. Definitions hold no PHI."""
    versions = FormVersion.objects.select_related("form__practice").annotate(
        latest_version=Subquery(
            FormVersion.objects.filter(form_id=OuterRef("form_id"))
            .order_by("-version")
            .values("version")[:1]
        )
    )
    if user.role == Role.PATIENT:
        practices = Patient.objects.filter(user=user).values("practice_id")
        return versions.filter(form__practice_id__in=practices)
    if user.practice_id is None:
        return versions.none()
    return versions.filter(form__practice_id=user.practice_id)


def responses_visible_to(user: User) -> QuerySet[Response]:
    """Responses with their answers: a patient's own; for staff who may read answers, those of
    the patients they may see. The front desk sees none (answers are clinical)."""
    responses = Response.objects.select_related("form_version__form", "patient")
    if user.role == Role.PATIENT:
        return responses.filter(patient__user=user)
    if not can_read_answers(user):
        return responses.none()
    return responses.filter(patient__in=patients_visible_to(user))


def manageable_forms(user: User) -> QuerySet[Form]:
    if user.role != Role.PRACTICE_ADMIN or user.practice_id is None:
        return Form.objects.none()
    return Form.objects.filter(practice_id=user.practice_id)


def form_version_named(*, practice: Practice, questionnaire: str) -> FormVersion | None:
    """The practice's form version a QuestionnaireResponse's `questionnaire` (url|version)
    names: our canonical URL, or the URL the form had before forms carried one (responses
    completed then, and copies sent elsewhere, still name it). None when it names none.
    The FHIR API finds the responses to a questionnaire by it."""
    url, version = canonical.split(questionnaire)
    slug = canonical.slug_in(url, practice.slug)
    # ASCII only: str.isdigit() passes "²", which int() refuses, and int() reads "١" as 1.
    if slug is None or not re.fullmatch(r"\d+", version, re.ASCII):
        return None
    return (
        FormVersion.objects.filter(form__practice=practice, form__slug=slug, version=int(version))
        .select_related("form")
        .first()
    )
