"""Writes of intake: installing the built-in forms, saving form versions, patients' answers
(save and resume, then complete), insurance cards, consent signatures with their PDF, and
asking newly booked patients for their forms."""

import base64
import hashlib
import io
from collections.abc import Iterable

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image

from intake import builtin, canonical, pdf, selectors
from intake import links as intake_links
from intake import questionnaire as fhirq
from intake.models import (
    ConsentDocument,
    ConsentVersion,
    Form,
    FormVersion,
    InsuranceCard,
    IntakeRequest,
    Response,
    ResponseFile,
    Signature,
)
from scheduling.models import ACTIVE_STATUSES, Appointment, AppointmentType
from telehealth import links
from telehealth.accounts.models import Patient, Practice, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.files import sniff
from telehealth.net import client_address
from telehealth.notify import services as notify
from telehealth.notify.inbound import practice_context

CARD_MAX_BYTES = 10 * 1024 * 1024
SIGNATURE_MAX_BYTES = 300 * 1024


class IntakeError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def install_builtin(practice: Practice) -> None:
    """Give a practice the built-in forms and the telehealth consent (once; idempotent)."""
    with transaction.atomic():
        for slug, definition in builtin.forms(practice.slug):
            form_install(practice=practice, slug=slug, definition=definition)
        document, created = ConsentDocument.objects.get_or_create(
            practice=practice,
            slug="telehealth",
            defaults={"title": builtin.TELEHEALTH_CONSENT_TITLE},
        )
        if created:
            ConsentVersion.objects.create(
                document=document, version=1, text=builtin.TELEHEALTH_CONSENT
            )


def form_install(*, practice: Practice, slug: str, definition: dict) -> Form:
    """The practice's form `slug`, created with `definition` as its first version unless it
    exists (then left as the practice edited it). Other apps install their built-in forms
    with it (visits' e-visit questionnaires)."""
    with transaction.atomic():
        form, created = Form.objects.get_or_create(
            practice=practice, slug=slug, defaults={"title": definition["title"]}
        )
        if created:
            FormVersion.objects.create(
                form=form, version=1, questionnaire=_stamped(definition, form, 1)
            )
    return form


def _stamped(definition: dict, form: Form, version: int) -> dict:
    """The definition as the Questionnaire we publish: the form's canonical URL and this
    version, so a response's `questionnaire` (url|version) names exactly this definition."""
    return {
        **definition,
        "url": canonical.questionnaire_url(form.practice.slug, form.slug),
        "version": str(version),
    }


def form_create(*, practice: Practice, title: str) -> Form:
    """A new form with one starter question, ready for the editor."""
    from django.utils.text import slugify

    base = slugify(title)[:50] or "form"
    slug, n = base, 1
    while Form.objects.filter(practice=practice, slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    with transaction.atomic():
        form = Form.objects.create(practice=practice, slug=slug, title=title)
        starter = {
            "resourceType": "Questionnaire",
            "title": title,
            "status": "draft",
            "item": [{"linkId": "q1", "type": "string", "text": "Your question"}],
        }
        FormVersion.objects.create(form=form, version=1, questionnaire=_stamped(starter, form, 1))
    return form


def form_save_version(*, form: Form, definition: dict, by: User | None) -> FormVersion:
    """Validate and save the next version, named by the form's canonical URL and its version
    number whatever `definition` says; earlier responses keep theirs."""
    fhirq.validate(definition)
    with transaction.atomic():
        form = (
            Form.objects.select_related("practice").select_for_update(of=("self",)).get(pk=form.pk)
        )
        latest = form.versions.order_by("-version").first()
        number = (latest.version if latest else 0) + 1
        version = FormVersion.objects.create(
            form=form,
            version=number,
            questionnaire=_stamped(definition, form, number),
            created_by=by,
        )
        if definition.get("title") and definition["title"] != form.title:
            form.title = definition["title"][:120]
            form.save(update_fields=["title"])
        audit.record(action=Action.UPDATE, actor=by, obj=form, detail=f"v{version.version}")
    return version


def form_update(
    *,
    form: Form,
    appointment_types: Iterable[AppointmentType],
    is_active: bool,
    definition: dict | None,
    by: User,
) -> FormVersion | None:
    """The editor's save, all or nothing: the visit types whose patients are asked for the
    form, whether it is in use, and (unless `definition` is None, as for the scored forms
    whose questions are fixed) its next version. A definition that fails validation raises
    fhirq.QuestionnaireError and changes nothing."""
    with transaction.atomic():
        version = None
        if definition is not None:
            version = form_save_version(form=form, definition=definition, by=by)
        form.appointment_types.set(appointment_types)
        form.is_active = is_active
        form.save(update_fields=["is_active"])
        audit.record(action=Action.UPDATE, actor=by, obj=form, detail="settings")
    return version


def response_for(*, patient: Patient, form: Form, appointment=None) -> Response:
    """The patient's response to this form: the one in progress (resumed), else their
    completed one (a form is answered once; the page shows it done), else a new one on the
    form's current version. Two requests starting the form at once get the same response:
    the database holds one in progress per patient and version, and the loser re-reads."""
    responses = Response.objects.filter(patient=patient, form_version__form=form).select_related(
        "form_version__form"
    )
    found = (
        responses.filter(status=Response.Status.IN_PROGRESS).first()
        or responses.filter(status=Response.Status.COMPLETED).order_by("-completed_at").first()
    )
    if found is not None:
        return found
    version = form.current
    if version is None:  # form_create always saves a first version
        raise ValueError(f"Form {form.pk} has no version to answer.")
    try:
        with transaction.atomic():  # a savepoint when the caller holds a transaction
            return Response.objects.create(
                patient=patient, form_version=version, appointment=appointment
            )
    except IntegrityError:
        return responses.get(form_version=version, status=Response.Status.IN_PROGRESS)


def response_new(*, patient: Patient, form: Form) -> Response:
    """A fresh response to a form answered more than once (each e-visit answers its
    condition's questionnaire anew), on the form's current version. The database holds one
    in progress per patient and version: an open one left behind is resumed instead."""
    version = form.current
    if version is None:  # form_create always saves a first version
        raise ValueError(f"Form {form.pk} has no version to answer.")
    open_ones = Response.objects.filter(
        patient=patient, form_version=version, status=Response.Status.IN_PROGRESS
    ).select_related("form_version__form")
    found = open_ones.first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Response.objects.create(patient=patient, form_version=version)
    except IntegrityError:
        return open_ones.get()


def response_attach(*, response: Response, link_id: str, upload) -> str:
    """Keep a file answering an attachment question; returns the answer ("file:<id>")."""
    upload, kind = _image(upload, _("attached file"))
    attached = ResponseFile.objects.create(
        response=response,
        link_id=link_id,
        file=upload,
        name=(upload.name or "file")[-120:],
        content_type=kind,
        size=upload.size,
    )
    return f"file:{attached.pk}"


def _own_files(response: Response, answers: dict) -> dict[str, dict]:
    """Attachment answers must name files of this response; their FHIR Attachments."""
    files = {f"file:{f.pk}": f for f in response.files.all()}
    for values in answers.values():
        for value in values:
            if isinstance(value, str) and value.startswith("file:") and value not in files:
                raise IntakeError(_("That file is not part of this form."))
    return {
        key: {
            "contentType": f.content_type,
            "title": f.name,
            "size": f.size,
            "url": reverse("intake:file", args=[f.pk]),
        }
        for key, f in files.items()
    }


def response_save(
    *, response: Response, raw: dict[str, list[str]], complete: bool, by=None, request=None
) -> Response:
    """Save answers; with `complete`, check required items, build the QuestionnaireResponse
    and the scores. Everything is checked and built before anything is written, in one
    transaction holding the response's row. Raises fhirq.AnswerErrors (a failed completion
    saves nothing; saving for later keeps the valid answers, then raises) and IntakeError
    (a file of another response, or a response already completed)."""
    definition = response.form_version.questionnaire
    problems = None
    try:
        answers = fhirq.clean(definition, raw, complete=complete)
    except fhirq.AnswerErrors as errors:
        if complete:
            raise
        # Saving for later keeps what is valid and drops what is not; the page says which.
        problems = errors
        valid = {k: v for k, v in raw.items() if k not in errors.errors}
        answers = fhirq.clean(definition, valid, complete=False)
    files = _own_files(response, answers)
    now = timezone.now()
    version = response.form_version
    if complete:
        resource = fhirq.response_resource(
            definition=definition,
            canonical=f"{definition.get('url', '')}|{version.version}",
            answers=fhirq.with_total(definition, answers),
            patient_ref=f"Patient/{response.patient_id}",
            authored=now,
            files=files,
        )
        scores = fhirq.score(definition, answers)
    with transaction.atomic():
        status = Response.objects.select_for_update().values_list("status", flat=True)
        if status.get(pk=response.pk) != Response.Status.IN_PROGRESS:
            raise IntakeError(_("This form has already been sent."))
        response.answers = fhirq.answers_for_storage(answers)
        fields = ["answers", "updated_at"]
        if complete:
            response.resource = resource
            response.scores = scores
            response.status = Response.Status.COMPLETED
            response.completed_at = now
            fields += ["resource", "scores", "status", "completed_at"]
        response.save(update_fields=fields)
        for detail in ["answers saved", *([f"completed {version}"] if complete else [])]:
            audit.record(
                action=Action.UPDATE,
                actor=by,
                obj=response,
                patient=response.patient,
                request=request,
                detail=detail,
            )
    if problems is not None:
        raise problems
    return response


def _image(upload, label: str) -> tuple[object, str]:
    if upload.size > CARD_MAX_BYTES:
        raise IntakeError(_("The %(side)s is larger than 10 MB.") % {"side": label})
    upload.seek(0)
    kind = sniff(upload.read(16))
    upload.seek(0)
    if not kind.startswith("image/") and kind != "application/pdf":
        raise IntakeError(
            _("The %(side)s must be a photo (JPEG, PNG, HEIC) or a PDF.") % {"side": label}
        )
    return upload, kind


def insurance_card_save(*, patient: Patient, data: dict, front, back=None, request=None):
    """A new current card (the previous ones are kept, no longer current). `data` may carry
    the policy holder's "birth_date" (a date), "sex" and "address" when the patient is not
    the policy holder (InsuranceForm.subscriber_details)."""
    front, front_type = _image(front, _("front of the card"))
    back_type = ""
    if back:
        back, back_type = _image(back, _("back of the card"))
    born = data.get("birth_date")
    with transaction.atomic():
        InsuranceCard.objects.filter(patient=patient, is_current=True).update(is_current=False)
        card = InsuranceCard.objects.create(
            patient=patient,
            payer=data["payer"],
            member_id=data["member_id"],
            group_number=data.get("group_number", ""),
            subscriber_name=data["subscriber_name"],
            relationship=data["relationship"],
            subscriber_birth_date=born.isoformat() if born else "",
            subscriber_sex=data.get("sex", ""),
            subscriber_address=data.get("address") or {},
            front=front,
            front_type=front_type,
            back=back or "",
            back_type=back_type,
        )
        audit.record(
            action=Action.CREATE,
            actor=getattr(request, "user", None),
            obj=card,
            patient=patient,
            request=request,
            detail="insurance card",
        )
    return card


def _drawing(data_url: str) -> bytes:
    prefix = "data:image/png;base64,"
    if not data_url.startswith(prefix):
        raise IntakeError(_("Draw your signature, or type it instead."))
    try:
        png = base64.b64decode(data_url[len(prefix) :], validate=True)
    except ValueError as exc:
        raise IntakeError(_("The drawn signature could not be read. Try again.")) from exc
    if not png.startswith(b"\x89PNG\r\n\x1a\n") or len(png) > SIGNATURE_MAX_BYTES:
        raise IntakeError(_("The drawn signature could not be read. Try again."))
    try:  # a PNG header on broken data must not reach the PDF
        with Image.open(io.BytesIO(png)) as image:
            image.load()
            if image.width > 2000 or image.height > 1000:
                raise IntakeError(_("The drawn signature is too large."))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise IntakeError(_("The drawn signature could not be read. Try again.")) from exc
    return png


def consent_sign(
    *,
    patient: Patient,
    consent: ConsentVersion,
    signer_name: str,
    drawing: str = "",
    request=None,
) -> Signature:
    """Record a signature of this exact version: who, when, from where, the SHA-256 of the
    text, the drawing (or a typed signature), and a PDF made once, now."""
    name = signer_name.strip()
    if len(name) < 2:
        raise IntakeError(_("Type your full name to sign."))
    png = _drawing(drawing) if drawing else b""
    now = timezone.now()
    ip = client_address(request)
    agent = (request.headers.get("User-Agent", "") if request else "")[:300]
    digest = hashlib.sha256(consent.text.encode()).hexdigest()
    document = pdf.signed_consent(
        practice=patient.practice.name,
        title=consent.document.title,
        version=consent.version,
        text=consent.text,
        signer=name,
        patient=patient.legal_name,
        signed_at=now,
        ip=ip or "",
        user_agent=agent,
        digest=digest,
        drawing=png,
    )
    with transaction.atomic():
        signature = Signature(
            patient=patient,
            consent=consent,
            signer_name=name,
            method=Signature.Method.DRAWN if png else Signature.Method.TYPED,
            text_sha256=digest,
            signed_at=now,
            ip=ip,
            user_agent=agent,
        )
        if png:
            signature.image.save("signature.png", ContentFile(png), save=False)
        signature.pdf.save(
            f"consent-{consent.document.slug}.pdf", ContentFile(document), save=False
        )
        signature.save()
        audit.record(
            action=Action.CREATE,
            actor=getattr(request, "user", None),
            obj=signature,
            patient=patient,
            request=request,
            detail=f"signed {consent}",
        )
    return signature


# --- Asking for forms -----------------------------------------------------------------------


def request_forms() -> int:
    """Pulled by the periodic task: each upcoming appointment whose visit type has forms is
    asked once, by text and email, for the forms and consent (marked by IntakeRequest). A
    patient whose checklist is already complete (a rescheduled visit, a returning patient) is
    marked without being asked again."""
    due = (
        Appointment.objects.filter(
            status__in=ACTIVE_STATUSES,
            start__gt=timezone.now(),
            appointment_type__intake_forms__is_active=True,
            intake_request__isnull=True,
        )
        .select_related("patient__practice", "provider")
        .distinct()[:500]
    )
    asked = 0
    for appointment in due:
        with transaction.atomic():
            _request, created = IntakeRequest.objects.get_or_create(appointment=appointment)
            if not created:
                continue
            patient = appointment.patient
            if selectors.status_of(patient) == selectors.COMPLETE:
                continue
            context = {
                **practice_context(patient),
                "provider_name": appointment.provider.display_name,
                "portal_link": links.url_for(intake_links.INTAKE, patient),
            }
            for channel in ("sms", "email"):
                notify.patient_message_enqueue(
                    patient=patient,
                    channel=channel,
                    key="intake.request",
                    context=context,
                    related=appointment,
                    dedupe_key=f"intake-request:{appointment.pk}:{channel}",
                )
            asked += 1
    return asked
