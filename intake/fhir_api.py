"""intake's rows in the FHIR API: the Questionnaire, QuestionnaireResponse, Consent,
DocumentReference (signed consents) and Coverage mappers that telehealth.fhir serves,
registered in IntakeConfig.ready. intake.fhir builds each resource; intake.selectors scopes the
rows (practice, care team, a patient's own), and the core audits every PHI row it serves.
Read and search only."""

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from intake import canonical, selectors
from intake.fhir import (
    CONSENT_DOCUMENT_PREFIX,
    LOINC,
    PATIENT_CONSENT,
    consent_from_signature,
    coverage_from_card,
    document_reference_from_signature,
    questionnaire_from_version,
    questionnaire_response_from_response,
)
from intake.models import FormVersion, InsuranceCard, Response, Signature
from telehealth.accounts.models import Patient, Practice, User
from telehealth.fhir import registry
from telehealth.fhir.registry import DATE, REFERENCE, STRING, TOKEN, Mapper, SearchParam, row_id
from telehealth.fhir.search import Token, any_of

NOTHING = Q(pk__in=[])
EVERY = Q(pk__isnull=False)  # an empty Q would vanish in any_of's OR


def _pk(resource_id: str) -> int:
    pk = row_id(resource_id)
    if pk is None:
        raise Http404
    return pk


def _number_q(field: str, value: str) -> Q:
    pk = row_id(value)
    return NOTHING if pk is None else Q(**{field: pk})


def _starts_q(field: str, value: str) -> Q:
    # FHIR string search: case-insensitive, from the start of the text or of any word in it.
    return Q(**{f"{field}__istartswith": value}) | Q(**{f"{field}__icontains": f" {value}"})


def _coded_q(token: Token, coding: dict) -> Q:
    """Every row, when the token names `coding` (the one code all rows of the type carry)."""
    if token.code == coding["code"] and token.system in (None, coding["system"]):
        return EVERY
    return NOTHING


def _filter_patient(rows: QuerySet, params: dict, *names: str) -> QuerySet:
    for name in names:
        for values in params.get(name, []):
            rows = rows.filter(any_of(values, lambda v: _number_q("patient_id", v)))
    return rows


def _practice_of(user: User) -> Practice | None:
    if user.practice_id is not None:
        return user.practice
    patient = Patient.objects.filter(user=user).select_related("practice").first()
    return patient.practice if patient else None


# Questionnaire: every saved version of a form is one Questionnaire (url|version), because
# each completed response names the exact version it answered.


def questionnaire_lookup(user: User, resource_id: str) -> FormVersion:
    return get_object_or_404(selectors.questionnaires_visible_to(user), pk=_pk(resource_id))


def questionnaire_to_fhir(version: FormVersion) -> dict:
    return questionnaire_from_version(version, latest_version=version.latest_version)  # type: ignore[attr-defined]


def _questionnaire_url_q(value: str) -> Q:
    """A canonical URL, optionally with |version; the URLs forms had before they carried
    their own (kept as identifiers) still find them."""
    url, version = canonical.split(value)
    q = Q(questionnaire__url=url)
    legacy = canonical.legacy_slug(url)
    if legacy is not None:
        q |= Q(form__slug=legacy)
    if version:
        q &= _number_q("version", version)
    return q


def _questionnaire_status_q(token: Token) -> Q:
    out_of_use = Q(form__is_active=False) | Q(version__lt=F("latest_version"))
    if token.code == "retired":
        return out_of_use | Q(questionnaire__status="retired")
    return ~out_of_use & Q(questionnaire__status=token.code)


def questionnaire_search(user: User, params: dict) -> QuerySet[FormVersion]:
    rows = selectors.questionnaires_visible_to(user)
    for values in params.get("url", []):
        rows = rows.filter(any_of(values, _questionnaire_url_q))
    for values in params.get("version", []):
        rows = rows.filter(any_of(values, lambda token: _number_q("version", token.code)))
    for values in params.get("status", []):
        rows = rows.filter(any_of(values, _questionnaire_status_q))
    for values in params.get("name", []):
        rows = rows.filter(any_of(values, lambda v: Q(questionnaire__name__istartswith=v)))
    for values in params.get("title", []):
        rows = rows.filter(any_of(values, lambda v: _starts_q("questionnaire__title", v)))
    return rows


questionnaire_mapper = Mapper(
    resource_type="Questionnaire",
    model=Questionnaire,
    lookup=questionnaire_lookup,
    to_fhir=questionnaire_to_fhir,
    search=questionnaire_search,
    params={
        "url": SearchParam(STRING, "Canonical URL, exactly (url or url|version)"),
        "version": SearchParam(TOKEN, "Version number of the form"),
        "status": SearchParam(TOKEN, "draft, active or retired (replaced or out of use)"),
        "name": SearchParam(STRING, "Start of the computer-friendly name"),
        "title": SearchParam(STRING, "Start of the title or of a word in it"),
    },
)


# QuestionnaireResponse: completed responses only (an answer in progress is not submitted).


def _completed_responses(user: User) -> QuerySet[Response]:
    return selectors.responses_visible_to(user).filter(status=Response.Status.COMPLETED)


def questionnaire_response_lookup(user: User, resource_id: str) -> Response:
    return get_object_or_404(_completed_responses(user), pk=_pk(resource_id))


def _answered_q(practice: Practice | None, value: str) -> Q:
    """The responses to a questionnaire named by reference (Questionnaire/id) or canonical
    (url, or url|version: all versions of the form, or that one)."""
    if practice is None:
        return NOTHING
    reference = value.removeprefix("Questionnaire/")
    if (version_id := row_id(reference)) is not None:
        return Q(form_version_id=version_id)
    url, version = canonical.split(value)
    if version:
        found = selectors.form_version_named(practice=practice, questionnaire=value)
        return Q(form_version=found) if found is not None else NOTHING
    slug = canonical.slug_in(url, practice.slug)
    if slug is None:
        return NOTHING
    return Q(form_version__form__practice=practice, form_version__form__slug=slug)


def questionnaire_response_search(user: User, params: dict) -> QuerySet[Response]:
    rows = _filter_patient(_completed_responses(user), params, "patient", "subject")
    if "questionnaire" in params:
        practice = _practice_of(user)
        for values in params["questionnaire"]:
            rows = rows.filter(any_of(values, lambda v: _answered_q(practice, v)))
    for values in params.get("authored", []):
        rows = rows.filter(any_of(values, lambda v: v.q("completed_at")))
    for values in params.get("status", []):
        rows = rows.filter(any_of(values, lambda token: Q(status=token.code)))
    return rows


questionnaire_response_mapper = Mapper(
    resource_type="QuestionnaireResponse",
    model=QuestionnaireResponse,
    lookup=questionnaire_response_lookup,
    to_fhir=questionnaire_response_from_response,
    search=questionnaire_response_search,
    params={
        "patient": SearchParam(REFERENCE, "The patient who answered (Patient/id)"),
        "subject": SearchParam(REFERENCE, "The patient who answered (Patient/id)"),
        "questionnaire": SearchParam(
            STRING, "The form answered: Questionnaire/id, or its canonical url[|version]"
        ),
        "authored": SearchParam(DATE, "When it was submitted"),
        "status": SearchParam(TOKEN, "Always completed"),
    },
    last_updated="updated_at",
    phi_patient=lambda response: response.patient,
    patient_path="patient_id",
)


# Consent and DocumentReference: one signature, seen as the agreement and as the signed PDF.


def _signatures(user: User) -> QuerySet[Signature]:
    later = Signature.objects.filter(
        patient_id=OuterRef("patient_id"), consent__document_id=OuterRef("consent__document_id")
    ).filter(
        Q(signed_at__gt=OuterRef("signed_at"))
        | Q(signed_at=OuterRef("signed_at"), pk__gt=OuterRef("pk"))
    )
    return (
        selectors.signatures_visible_to(user)
        .select_related("patient", "consent__document")
        .annotate(superseded=Exists(later))
    )


def consent_lookup(user: User, resource_id: str) -> Signature:
    return get_object_or_404(_signatures(user), pk=_pk(resource_id))


def consent_to_fhir(signature: Signature) -> dict:
    return consent_from_signature(signature, superseded=signature.superseded)  # type: ignore[attr-defined]


def _consent_status_q(token: Token) -> Q:
    return {"active": Q(superseded=False), "inactive": Q(superseded=True)}.get(token.code, NOTHING)


def consent_search(user: User, params: dict) -> QuerySet[Signature]:
    rows = _filter_patient(_signatures(user), params, "patient")
    for values in params.get("date", []):
        rows = rows.filter(any_of(values, lambda v: v.q("signed_at")))
    for values in params.get("status", []):
        rows = rows.filter(any_of(values, _consent_status_q))
    for values in params.get("category", []):
        rows = rows.filter(any_of(values, lambda token: _coded_q(token, PATIENT_CONSENT)))
    return rows


consent_mapper = Mapper(
    resource_type="Consent",
    model=Consent,
    lookup=consent_lookup,
    to_fhir=consent_to_fhir,
    search=consent_search,
    params={
        "patient": SearchParam(REFERENCE, "The patient who signed (Patient/id)"),
        "date": SearchParam(DATE, "When it was signed"),
        "status": SearchParam(TOKEN, "active, or inactive once signed again"),
        "category": SearchParam(TOKEN, f"Always {LOINC}|59284-0 (Patient Consent)"),
    },
    phi_patient=lambda signature: signature.patient,
    patient_path="patient_id",
)


def document_reference_lookup(user: User, resource_id: str) -> Signature:
    pk = document_reference_mapper.pk_of(resource_id)
    if pk is None:
        raise Http404
    return get_object_or_404(_signatures(user), pk=pk)


def document_reference_search(user: User, params: dict) -> QuerySet[Signature]:
    rows = _filter_patient(_signatures(user), params, "patient", "subject")
    for values in params.get("date", []):
        rows = rows.filter(any_of(values, lambda v: v.q("signed_at")))
    for values in params.get("type", []):
        rows = rows.filter(any_of(values, lambda token: _coded_q(token, PATIENT_CONSENT)))
    for values in params.get("status", []):
        rows = rows.filter(any_of(values, lambda t: EVERY if t.code == "current" else NOTHING))
    return rows


document_reference_mapper = Mapper(
    resource_type="DocumentReference",
    model=DocumentReference,
    lookup=document_reference_lookup,
    to_fhir=document_reference_from_signature,
    search=document_reference_search,
    params={
        "patient": SearchParam(REFERENCE, "The patient the document is about (Patient/id)"),
        "subject": SearchParam(REFERENCE, "The patient the document is about (Patient/id)"),
        "date": SearchParam(DATE, "When it was signed"),
        "type": SearchParam(TOKEN, f"Signed consents: {LOINC}|59284-0"),
        "status": SearchParam(TOKEN, "Always current"),
    },
    phi_patient=lambda signature: signature.patient,
    patient_path="patient_id",
    id_prefix=CONSENT_DOCUMENT_PREFIX,
)


# Coverage


def _cards(user: User) -> QuerySet[InsuranceCard]:
    return selectors.cards_visible_to(user).select_related("patient")


def coverage_lookup(user: User, resource_id: str) -> InsuranceCard:
    return get_object_or_404(_cards(user), pk=_pk(resource_id))


def _coverage_status_q(token: Token) -> Q:
    return {"active": Q(is_current=True), "cancelled": Q(is_current=False)}.get(token.code, NOTHING)


def coverage_search(user: User, params: dict) -> QuerySet[InsuranceCard]:
    rows = _filter_patient(_cards(user), params, "patient", "beneficiary")
    for values in params.get("status", []):
        rows = rows.filter(any_of(values, _coverage_status_q))
    for values in params.get("payor", []):
        rows = rows.filter(any_of(values, lambda v: _starts_q("payer", v)))
    return rows


coverage_mapper = Mapper(
    resource_type="Coverage",
    model=Coverage,
    lookup=coverage_lookup,
    to_fhir=coverage_from_card,
    search=coverage_search,
    params={
        "patient": SearchParam(REFERENCE, "The patient covered (Patient/id)"),
        "beneficiary": SearchParam(REFERENCE, "The patient covered (Patient/id)"),
        "status": SearchParam(TOKEN, "active (the current card) or cancelled (replaced)"),
        "payor": SearchParam(STRING, "Start of the insurer's name, as the patient wrote it"),
    },
    phi_patient=lambda card: card.patient,
    patient_path="patient_id",
)


def register() -> None:
    for mapper in (
        questionnaire_mapper,
        questionnaire_response_mapper,
        consent_mapper,
        document_reference_mapper,
        coverage_mapper,
    ):
        registry.register(mapper)
