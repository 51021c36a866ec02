"""Writes of e-consults: a clinician's specialist profile, sending a case with a snapshot of
the chosen records, the specialist's questions back and the requester's replies, the written
answer, both sides' time, and the requester's first reading of the answer.

The case moves sent ⇄ info requested → answered, or, unanswered, to declined (by the
specialist, with a reason) or withdrawn (by the requester) (`TRANSITIONS`). Every service locks the
case's row, checks the move and who may make it against what it finds there, and writes,
audits and queues its notice (to a clinician, by email, with no PHI: a link to the case) in
one transaction."""

from datetime import date

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from telehealth.accounts.models import Patient, Role, User
from telehealth.accounts.selectors import patients_visible_to
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.notify import services as notify
from visits import case_steps
from visits import econsult_selectors as selectors
from visits.models import (
    ConsultSpecialist,
    EConsult,
    EConsultMessage,
    EConsultRecord,
    EConsultTime,
)

State = EConsult.State
Kind = EConsultMessage.Kind
TRANSITIONS: dict[str, frozenset[str]] = {
    State.SENT: frozenset({State.INFO_REQUESTED, State.ANSWERED, State.DECLINED, State.WITHDRAWN}),
    State.INFO_REQUESTED: frozenset({State.SENT, State.ANSWERED, State.DECLINED, State.WITHDRAWN}),
}
MAX_RECORDS = 20
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}


class EConsultError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def case_url(econsult: EConsult) -> str:
    return settings.SITE_URL + reverse("visits:econsult", args=[econsult.pk])


def _locked(econsult: EConsult) -> EConsult:
    return case_steps.locked(
        EConsult.objects.select_related("patient", "practice", "requester", "specialist"),
        econsult.pk,
    )


def _move(econsult: EConsult, to: str) -> None:
    refusal = _("This e-consult is %(state)s: that cannot be done now.")
    case_steps.move(econsult, to, transitions=TRANSITIONS, refusal=refusal, error=EConsultError)


def _text(body: str, label: str) -> str:
    return case_steps.text(body, label, error=EConsultError)


def _tell(econsult: EConsult, *, to: User, what: str, dedupe: str) -> None:
    """An email to a clinician that something waits in the case: no patient detail, no text
    of the case (email is not encrypted end to end), only the link behind sign-in."""
    if not to.email:
        return
    notify.message_enqueue(
        channel="email",
        template=f"econsult.{what}",
        staff=to,
        subject=_("An e-consult needs your attention"),
        body=_("An e-consult is waiting for you. Open it: %(link)s") % {"link": case_url(econsult)},
        dedupe_key=f"econsult:{econsult.pk}:{dedupe}",
        related=econsult,
    )


# --- Who answers e-consults ------------------------------------------------------------------


def specialist_profile_save(
    *, user: User, specialty: str, accepting: bool, request=None
) -> ConsultSpecialist:
    """A clinician says they answer e-consults in a specialty (or stop accepting new ones;
    cases already sent to them stay theirs)."""
    specialty = (specialty or "").strip()
    if user.role != Role.CLINICIAN or user.practice_id is None:
        raise EConsultError(_("Only a clinician of a practice answers e-consults."))
    if not specialty or len(specialty) > 80:
        raise EConsultError(_("Give your specialty in up to 80 characters."))
    with transaction.atomic():
        profile, _created = ConsultSpecialist.objects.update_or_create(
            user=user,
            defaults={
                "practice_id": user.practice_id,
                "specialty": specialty,
                "accepting": accepting,
            },
        )
        audit.record(
            action=Action.UPDATE,
            actor=user,
            obj=profile,
            request=request,
            detail="accepting" if accepting else "not accepting",
        )
    return profile


# --- The requesting clinician ----------------------------------------------------------------


def econsult_send(
    *,
    requester: User,
    patient: Patient,
    specialist: ConsultSpecialist,
    question: str,
    record_keys: list[str],
    patient_consented: bool,
    request=None,
) -> EConsult:
    """Send the case. The patient must be the requester's (care team or emergency grant) and
    have agreed; the specialist must accept e-consults in the same practice. The records are
    read with the requester's access before the transaction (files can take a moment) and
    copied into the case inside it."""
    question = _text(question, _("question"))
    if not patient_consented:
        raise EConsultError(
            _("Ask the patient first: an e-consult needs their agreement, noted here.")
        )
    if len(record_keys) > MAX_RECORDS:
        raise EConsultError(_("Include up to %(n)s records.") % {"n": MAX_RECORDS})
    if not selectors.specialists_for(requester).filter(pk=specialist.pk).exists():
        raise EConsultError(_("Choose a specialist of your practice who accepts e-consults."))
    if not patients_visible_to(requester).filter(pk=patient.pk).exists():
        raise EConsultError(_("Only a clinician of the patient's care team sends an e-consult."))
    try:
        snapshots = selectors.records_snapshot(
            user=requester, patient=patient, keys=list(dict.fromkeys(record_keys))
        )
    except KeyError as error:
        raise EConsultError(_("A chosen record is not available to include.")) from error
    with transaction.atomic():
        now = timezone.now()
        econsult = EConsult.objects.create(
            practice_id=patient.practice_id,
            patient=patient,
            requester=requester,
            specialist=specialist.user,
            specialty=specialist.specialty,
            question=question,
            patient_consent_at=now,
            sent_at=now,
        )
        for position, snapshot in enumerate(snapshots, start=1):
            record = EConsultRecord(
                econsult=econsult,
                kind=snapshot.kind,
                title=snapshot.title,
                rows=snapshot.rows,
                content_type=snapshot.content_type if snapshot.content else "",
                position=position,
            )
            if snapshot.content:
                extension = EXTENSIONS.get(snapshot.content_type, "bin")
                record.file.save(f"record.{extension}", ContentFile(snapshot.content), save=False)
            record.save()
        audit.record(
            action=Action.CREATE,
            actor=requester,
            obj=econsult,
            patient=patient,
            request=request,
            detail=f"sent with {len(snapshots)} record(s); patient consent noted",
        )
        _tell(econsult, to=specialist.user, what="sent", dedupe="sent")
    return econsult


def econsult_reply(*, econsult: EConsult, requester: User, body: str, request=None):
    """The requester answers the specialist's question; the case waits on the specialist."""
    return _exchange(
        econsult=econsult, author=requester, body=body, kind=Kind.REPLY, request=request
    )


def econsult_answer_read(*, econsult: EConsult, requester: User, request=None) -> EConsult:
    """The requester opened the answered case: the first time is kept (the inbox stops
    showing it as new). Other readers and later reads change nothing."""
    if econsult.requester_id != requester.pk or econsult.state != State.ANSWERED:
        return econsult
    if econsult.answer_read_at is not None:
        return econsult
    with transaction.atomic():
        updated = EConsult.objects.filter(pk=econsult.pk, answer_read_at__isnull=True).update(
            answer_read_at=timezone.now()
        )
        if updated:
            audit.record(
                action=Action.UPDATE,
                actor=requester,
                obj=econsult,
                patient=econsult.patient,
                request=request,
                detail="answer read",
            )
    econsult.refresh_from_db(fields=["answer_read_at"])
    return econsult


def econsult_withdraw(*, econsult: EConsult, requester: User, request=None) -> EConsult:
    """The requester takes back a case not yet answered (the specialist is told, by a link);
    it stays readable to both, closed."""
    with transaction.atomic():
        econsult = _locked(econsult)
        if econsult.requester_id != requester.pk:
            raise EConsultError(_("Only the clinician who sent this e-consult withdraws it."))
        _move(econsult, State.WITHDRAWN)
        econsult.closed_at = timezone.now()
        econsult.save(update_fields=["state", "closed_at"])
        audit.record(
            action=Action.UPDATE,
            actor=requester,
            obj=econsult,
            patient=econsult.patient,
            request=request,
            detail="withdrawn",
        )
        _tell(econsult, to=econsult.specialist, what="withdrawn", dedupe="withdrawn")
    return econsult


# --- The specialist --------------------------------------------------------------------------


def _check_specialist(econsult: EConsult, user: User) -> None:
    if econsult.specialist_id != user.pk:
        raise EConsultError(_("Only the specialist this e-consult was sent to answers it."))


def econsult_ask(*, econsult: EConsult, specialist: User, body: str, request=None):
    """The specialist needs more before answering; the requester is told a question waits."""
    return _exchange(
        econsult=econsult, author=specialist, body=body, kind=Kind.QUESTION, request=request
    )


def _exchange(
    *, econsult: EConsult, author: User, body: str, kind: str, request
) -> EConsultMessage:
    """A message one way across the case: a QUESTION goes from the specialist to the requester
    (the case waits on the requester), a REPLY back (it waits on the specialist again)."""
    asking = kind == Kind.QUESTION
    body = _text(body, _("question") if asking else _("reply"))
    with transaction.atomic():
        econsult = _locked(econsult)
        if asking:
            _check_specialist(econsult, author)
        elif econsult.requester_id != author.pk:
            raise EConsultError(_("Only the clinician who sent this e-consult replies."))
        _move(econsult, State.INFO_REQUESTED if asking else State.SENT)
        econsult.save(update_fields=["state"])
        message = EConsultMessage.objects.create(
            econsult=econsult, kind=kind, author=author, body=body
        )
        audit.record(
            action=Action.CREATE,
            actor=author,
            obj=message,
            patient=econsult.patient,
            request=request,
            detail=kind,
        )
        to = econsult.requester if asking else econsult.specialist
        _tell(econsult, to=to, what=kind, dedupe=f"{kind}:{message.pk}")
    return message


def econsult_answer(
    *, econsult: EConsult, specialist: User, answer: str, verbal_report: bool, request=None
) -> EConsult:
    """The written answer (the report to the requester), and whether the specialist also
    discussed it with them by phone or video; the requester is told it is there."""
    answer = _text(answer, _("answer"))
    with transaction.atomic():
        econsult = _locked(econsult)
        _check_specialist(econsult, specialist)
        _move(econsult, State.ANSWERED)
        econsult.answer, econsult.verbal_report = answer, verbal_report
        econsult.answered_at = timezone.now()
        econsult.save(update_fields=["state", "answer", "verbal_report", "answered_at"])
        audit.record(
            action=Action.UPDATE,
            actor=specialist,
            obj=econsult,
            patient=econsult.patient,
            request=request,
            detail="answered" + (", verbal report too" if verbal_report else ""),
        )
        _tell(econsult, to=econsult.requester, what="answered", dedupe="answered")
    return econsult


def econsult_decline(
    *, econsult: EConsult, specialist: User, reason: str, request=None
) -> EConsult:
    """The specialist will not answer this case (outside their field, better seen in person),
    and says why; the requester is told by a notice that carries only the link."""
    reason = _text(reason, _("reason"))
    with transaction.atomic():
        econsult = _locked(econsult)
        _check_specialist(econsult, specialist)
        _move(econsult, State.DECLINED)
        econsult.decline_reason = reason
        econsult.closed_at = timezone.now()
        econsult.save(update_fields=["state", "decline_reason", "closed_at"])
        audit.record(
            action=Action.UPDATE,
            actor=specialist,
            obj=econsult,
            patient=econsult.patient,
            request=request,
            detail="declined",
        )
        _tell(econsult, to=econsult.requester, what="declined", dedupe="declined")
    return econsult


# --- Both sides ------------------------------------------------------------------------------


def econsult_time_record(
    *,
    econsult: EConsult,
    clinician: User,
    minutes: int,
    work_date: date,
    activity: str,
    discussion: bool = False,
    request=None,
) -> EConsultTime:
    """Minutes one side spent on the case, on a day from the one it was sent to today (in the
    practice's time zone). `discussion` is for the specialist: consultative discussion with
    the requester rather than review of the records."""
    activity = _text(activity, _("what was done"))
    if not 1 <= minutes <= 240:
        raise EConsultError(_("Record between 1 and 240 minutes at a time."))
    zone = econsult.practice.zone
    if work_date > timezone.localdate(timezone=zone):
        raise EConsultError(_("Time cannot be recorded for a day still to come."))
    if work_date < timezone.localtime(econsult.sent_at, zone).date():
        raise EConsultError(_("Time is recorded from the day the e-consult was sent."))
    with transaction.atomic():
        econsult = _locked(econsult)
        if clinician.pk == econsult.specialist_id:
            side = EConsultTime.Side.SPECIALIST
        elif clinician.pk == econsult.requester_id:
            side = EConsultTime.Side.REQUESTER
        else:
            raise EConsultError(_("Only the two clinicians of the e-consult record time on it."))
        if discussion and side != EConsultTime.Side.SPECIALIST:
            raise EConsultError(_("Discussion time is the specialist's to record."))
        entry = EConsultTime.objects.create(
            econsult=econsult,
            clinician=clinician,
            side=side,
            minutes=minutes,
            discussion=discussion,
            work_date=work_date,
            activity=activity,
        )
        audit.record(
            action=Action.CREATE,
            actor=clinician,
            obj=entry,
            patient=econsult.patient,
            request=request,
            detail=f"{minutes} min, {side}" + (", discussion" if discussion else ""),
        )
    return entry
