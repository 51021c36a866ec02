"""Writes of e-visits: installing a practice's conditions, the patient's draft (answers and
photos) and submission, the clinician's assignment, questions, time, response and escalation.

The case moves draft → submitted → in review ⇄ awaiting patient → completed, or to escalated
or cancelled (`TRANSITIONS`). Every service locks the case's row, checks the move against the
state it finds there, and writes, audits and queues its message in one transaction."""

from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from intake import questionnaire as fhirq
from intake import services as intake
from scheduling import links as scheduling_links
from telehealth.accounts import services as accounts
from telehealth.accounts.models import CareTeamReason, Patient, Practice, Role, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.notify import services as notify
from telehealth.notify.inbound import practice_context
from telehealth.photos import MAX_UPLOAD_BYTES, Photo, PhotoError, prepare_photo
from visits import case_steps, evisit_builtin, evisit_rules
from visits.models import EVisit, EVisitCondition, EVisitMessage, EVisitPhoto, EVisitTime

State = EVisit.State
TRANSITIONS: dict[str, frozenset[str]] = {
    State.DRAFT: frozenset({State.SUBMITTED, State.CANCELLED}),
    State.SUBMITTED: frozenset({State.IN_REVIEW, State.ESCALATED, State.CANCELLED}),
    State.IN_REVIEW: frozenset({State.AWAITING_PATIENT, State.COMPLETED, State.ESCALATED}),
    State.AWAITING_PATIENT: frozenset({State.IN_REVIEW, State.ESCALATED}),
}
OPEN_STATES = (State.SUBMITTED, State.IN_REVIEW, State.AWAITING_PATIENT)
MAX_PHOTOS = 6


class EVisitError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def conditions_install(practice: Practice) -> None:
    """Give a practice the built-in e-visit conditions, each with its questionnaire installed
    as an intake form (once; idempotent: a practice's edits are kept)."""
    with transaction.atomic():
        for builtin in evisit_builtin.conditions():
            form = intake.form_install(
                practice=practice, slug=f"evisit-{builtin.slug}", definition=builtin.questionnaire
            )
            EVisitCondition.objects.get_or_create(
                practice=practice,
                slug=builtin.slug,
                defaults={
                    "name": builtin.name,
                    "form": form,
                    "sla_business_hours": builtin.sla_business_hours,
                },
            )


def case_url(evisit: EVisit) -> str:
    return settings.SITE_URL + reverse("visits:evisit", args=[evisit.pk])


def _locked(evisit: EVisit) -> EVisit:
    return case_steps.locked(
        EVisit.objects.select_related(
            "patient__practice", "condition", "response__form_version__form", "assigned_to"
        ),
        evisit.pk,
    )


def _move(evisit: EVisit, to: str) -> None:
    refusal = _("This e-visit is %(state)s: that cannot be done now.")
    case_steps.move(evisit, to, transitions=TRANSITIONS, refusal=refusal, error=EVisitError)


def _text(body: str, label: str) -> str:
    return case_steps.text(body, label, error=EVisitError)


def _tell_patient(evisit: EVisit, *, key: str, dedupe: str, context: dict | None = None) -> None:
    """Queue the patient's notice (no PHI: it sends them to the portal) on the channel that
    reaches them."""
    patient = evisit.patient
    channel = notify.patient_channel(patient)
    if channel is None:
        return
    notify.patient_message_enqueue(
        patient=patient,
        channel=channel,
        key=key,
        context={**practice_context(patient), "portal_link": case_url(evisit), **(context or {})},
        dedupe_key=f"evisit:{evisit.pk}:{dedupe}",
        related=evisit,
    )


# --- The patient's side ----------------------------------------------------------------------


def evisit_start(*, patient: Patient, condition: EVisitCondition, request=None) -> EVisit:
    """A draft e-visit for the condition, or the patient's draft for it already open."""
    if condition.practice_id != patient.practice_id or not condition.is_active:
        raise EVisitError(_("E-visits for this are not offered."))
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()  # serialise starts
        draft = EVisit.objects.filter(
            patient=patient, condition=condition, state=State.DRAFT
        ).first()
        if draft is not None:
            return draft
        response = intake.response_new(patient=patient, form=condition.form)
        evisit = EVisit.objects.create(
            practice_id=patient.practice_id, patient=patient, condition=condition, response=response
        )
        audit.record(
            action=Action.CREATE,
            actor=patient.user,
            obj=evisit,
            patient=patient,
            request=request,
            detail="started",
        )
    return evisit


@dataclass
class Saved:
    """What `evisit_save` did: whether the case was submitted, and what needs attention
    (by question linkId; "photos" for the photos)."""

    submitted: bool
    errors: dict[str, str] = field(default_factory=dict)


def _too_many_photos(room: int) -> str:
    return _("An e-visit takes up to %(n)s photos; %(left)s more can be added.") % {
        "n": MAX_PHOTOS,
        "left": room,
    }


def _prepared(uploads: list, room: int) -> tuple[list[tuple[str, Photo]], list[str]]:
    if len(uploads) > room:
        return [], [_too_many_photos(room)]
    photos: list[tuple[str, Photo]] = []
    problems: list[str] = []
    for upload in uploads:
        name = (upload.name or "photo")[-120:]
        if upload.size > MAX_UPLOAD_BYTES:
            problems.append(_("%(name)s is larger than 25 MB.") % {"name": name})
            continue
        try:
            photos.append((name, prepare_photo(upload.read(), name=name)))
        except PhotoError as error:
            problems.append(str(error))
    return photos, problems


def evisit_save(
    *, evisit: EVisit, raw: dict[str, list[str]], uploads: list, submit: bool, request=None
) -> Saved:
    """Keep the draft's answers and new photos; with `submit`, and everything required
    answered and every photo usable, submit it: the first answer is then due within the
    condition's business hours. Photos are processed before the transaction (seconds of CPU
    must not hold the row lock); answers that fail are reported and the valid ones kept."""
    if evisit.response is None:  # evisit_start always gives a draft its response
        raise EVisitError(_("This e-visit has no questionnaire to answer."))
    response = evisit.response
    definition = response.form_version.questionnaire
    room = MAX_PHOTOS - evisit.photos.count()
    photos, photo_problems = _prepared(uploads, room)
    errors: dict[str, str] = {}
    if photo_problems:
        errors["photos"] = " ".join(photo_problems)
    if submit:
        try:
            fhirq.clean(definition, raw, complete=True)
        except fhirq.AnswerErrors as problems:
            errors.update(problems.errors)
    submitting = submit and not errors
    with transaction.atomic():
        evisit = _locked(evisit)
        if evisit.state != State.DRAFT:
            raise EVisitError(_("This e-visit has already been sent."))
        room = MAX_PHOTOS - evisit.photos.count()  # again: another save may have added some
        if len(photos) > room:
            errors["photos"] = _too_many_photos(room)
            photos, submitting = [], False
        for name, photo in photos:
            EVisitPhoto.objects.create(
                evisit=evisit,
                file=ContentFile(photo.content, name="photo.jpg"),
                name=name,
                size=len(photo.content),
                width=photo.width,
                height=photo.height,
            )
        try:
            intake.response_save(
                response=response,
                raw=raw,
                complete=submitting,
                by=evisit.patient.user,
                request=request,
            )
        except fhirq.AnswerErrors as problems:  # saved what was valid
            errors.update(problems.errors)
        except intake.IntakeError:
            pass  # answered and completed elsewhere already: what was sent stands
        if submitting:
            _move(evisit, State.SUBMITTED)
            now = timezone.now()
            evisit.submitted_at = now
            evisit.due_at = evisit_rules.due_at(
                now,
                evisit.condition.sla_business_hours,
                zone=evisit.patient.practice.zone,
                schedule=evisit.patient.practice.business_hours,
            )
            evisit.save(update_fields=["state", "submitted_at", "due_at"])
        audit.record(
            action=Action.UPDATE,
            actor=evisit.patient.user,
            obj=evisit,
            patient=evisit.patient,
            request=request,
            detail="submitted" if submitting else f"draft saved, {len(photos)} photo(s) added",
        )
    return Saved(submitted=submitting, errors=errors)


def evisit_cancel(*, evisit: EVisit, by: User, request=None) -> EVisit:
    """The patient withdraws a case nobody has started on."""
    with transaction.atomic():
        evisit = _locked(evisit)
        _move(evisit, State.CANCELLED)
        evisit.closed_at = timezone.now()
        evisit.save(update_fields=["state", "closed_at"])
        audit.record(
            action=Action.UPDATE, actor=by, obj=evisit, request=request, detail="cancelled"
        )
    return evisit


def evisit_reply(*, evisit: EVisit, by: User, body: str, request=None) -> EVisitMessage:
    """The patient answers the clinician's question; the case is back in review."""
    body = _text(body, _("answer"))
    with transaction.atomic():
        evisit = _locked(evisit)
        _move(evisit, State.IN_REVIEW)
        evisit.save(update_fields=["state"])
        message = EVisitMessage.objects.create(
            evisit=evisit, kind=EVisitMessage.Kind.REPLY, author=by, body=body
        )
        audit.record(
            action=Action.CREATE,
            actor=by,
            obj=message,
            patient=evisit.patient,
            request=request,
            detail="reply",
        )
    return message


# --- The clinician's side --------------------------------------------------------------------


def _first_action(evisit: EVisit, now) -> list[str]:
    if evisit.first_action_at is None:
        evisit.first_action_at = now
        return ["first_action_at"]
    return []


def _check_clinician(evisit: EVisit, clinician: User) -> None:
    if evisit.assigned_to_id != clinician.pk:
        raise EVisitError(_("Take this e-visit first: it is assigned to someone else or nobody."))


def evisit_assign(*, evisit: EVisit, clinician: User, request=None) -> EVisit:
    """A clinician of the practice takes a submitted case: it is theirs to review, and they
    join the patient's care team (they now treat the patient and may open the chart)."""
    if clinician.role != Role.CLINICIAN or clinician.practice_id != evisit.practice_id:
        raise EVisitError(_("Only a clinician of the practice takes e-visits."))
    with transaction.atomic():
        evisit = _locked(evisit)
        if evisit.assigned_to_id is not None:
            raise EVisitError(_("Someone has already taken this e-visit."))
        _move(evisit, State.IN_REVIEW)
        evisit.assigned_to = clinician
        fields = ["state", "assigned_to", *_first_action(evisit, timezone.now())]
        evisit.save(update_fields=fields)
        accounts.care_team_add(
            patient=evisit.patient,
            clinician=clinician,
            reason=CareTeamReason.ASSIGNED,
            by=clinician,
        )
        audit.record(
            action=Action.UPDATE, actor=clinician, obj=evisit, request=request, detail="assigned"
        )
    return evisit


def _clinician_writes(evisit: EVisit, now) -> list[str]:
    fields = _first_action(evisit, now)
    if evisit.first_response_at is None:
        evisit.first_response_at = now
        fields.append("first_response_at")
    return fields


def evisit_ask(*, evisit: EVisit, clinician: User, body: str, request=None) -> EVisitMessage:
    """A follow-up question in the case; the patient is told it is waiting."""
    body = _text(body, _("question"))
    with transaction.atomic():
        evisit = _locked(evisit)
        _check_clinician(evisit, clinician)
        _move(evisit, State.AWAITING_PATIENT)
        now = timezone.now()
        evisit.save(update_fields=["state", *_clinician_writes(evisit, now)])
        message = EVisitMessage.objects.create(
            evisit=evisit,
            kind=EVisitMessage.Kind.QUESTION,
            author=clinician,
            body=body,
            created_at=now,
        )
        audit.record(
            action=Action.CREATE,
            actor=clinician,
            obj=message,
            patient=evisit.patient,
            request=request,
            detail="question",
        )
        _tell_patient(evisit, key="evisit.update", dedupe=f"question:{message.pk}")
    return message


def evisit_time_record(
    *, evisit: EVisit, clinician: User, minutes: int, work_date: date, activity: str, request=None
) -> EVisitTime:
    """Minutes the clinician spent on the case (reviewing, writing, consulting records)."""
    activity = _text(activity, _("what was done"))
    if not 1 <= minutes <= 240:
        raise EVisitError(_("Record between 1 and 240 minutes at a time."))
    today = timezone.localdate(timezone=evisit.practice.zone)
    if work_date > today:
        raise EVisitError(_("Time cannot be recorded for a day still to come."))
    with transaction.atomic():
        evisit = _locked(evisit)
        _check_clinician(evisit, clinician)
        if evisit.state not in (State.IN_REVIEW, State.AWAITING_PATIENT, State.COMPLETED):
            raise EVisitError(_("Time is recorded on a case under review or just completed."))
        fields = _first_action(evisit, timezone.now())
        if fields:
            evisit.save(update_fields=fields)
        entry = EVisitTime.objects.create(
            evisit=evisit,
            clinician=clinician,
            minutes=minutes,
            work_date=work_date,
            activity=activity,
        )
        audit.record(
            action=Action.CREATE,
            actor=clinician,
            obj=entry,
            patient=evisit.patient,
            request=request,
            detail=f"{minutes} min",
        )
    return entry


def evisit_complete(
    *, evisit: EVisit, clinician: User, assessment: str, plan: str, response: str, request=None
) -> EVisit:
    """The clinician's assessment and plan (kept in the case) and their response to the
    patient, who is told it is waiting in the portal."""
    assessment = _text(assessment, _("assessment"))
    plan = _text(plan, _("plan"))
    response = _text(response, _("response to the patient"))
    with transaction.atomic():
        evisit = _locked(evisit)
        _check_clinician(evisit, clinician)
        _move(evisit, State.COMPLETED)
        now = timezone.now()
        evisit.assessment, evisit.plan, evisit.completed_at = assessment, plan, now
        evisit.save(
            update_fields=[
                "state",
                "assessment",
                "plan",
                "completed_at",
                *_clinician_writes(evisit, now),
            ]
        )
        EVisitMessage.objects.create(
            evisit=evisit,
            kind=EVisitMessage.Kind.RESPONSE,
            author=clinician,
            body=response,
            created_at=now,
        )
        audit.record(
            action=Action.UPDATE, actor=clinician, obj=evisit, request=request, detail="completed"
        )
        _tell_patient(evisit, key="evisit.update", dedupe="response")
    return evisit


def evisit_escalate(*, evisit: EVisit, clinician: User, note: str, request=None) -> EVisit:
    """The case needs a live visit: the patient is sent the booking page of the clinician
    (of the practice when the clinician has no booking page), with the clinician's note."""
    note = _text(note, _("note to the patient"))
    if clinician.role != Role.CLINICIAN:
        raise EVisitError(_("Only a clinician escalates an e-visit."))
    with transaction.atomic():
        evisit = _locked(evisit)
        if evisit.assigned_to_id is None and clinician.practice_id == evisit.practice_id:
            evisit.assigned_to = clinician  # escalating straight from the queue takes it
        _check_clinician(evisit, clinician)
        _move(evisit, State.ESCALATED)
        now = timezone.now()
        evisit.closed_at = now
        evisit.save(
            update_fields=["state", "assigned_to", "closed_at", *_clinician_writes(evisit, now)]
        )
        provider = getattr(clinician, "provider", None)
        link = scheduling_links.booking_url(
            practice_slug=evisit.patient.practice.slug,
            provider_slug=provider.slug if provider is not None and provider.is_active else "",
        )
        EVisitMessage.objects.create(
            evisit=evisit,
            kind=EVisitMessage.Kind.RESPONSE,
            author=clinician,
            body=f"{note}\n\n{_('Book a live visit')}: {link}",
            created_at=now,
        )
        audit.record(
            action=Action.UPDATE, actor=clinician, obj=evisit, request=request, detail="escalated"
        )
        _tell_patient(
            evisit, key="evisit.escalated", dedupe="escalated", context={"rebook_link": link}
        )
    return evisit
