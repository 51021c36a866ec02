"""Reads of e-consults, scoped to the acting user. A case is seen by the clinician who sent it
and the specialist it was sent to, nobody else: not the patient (the exchange is between
clinicians; the requester tells the patient what it means for their care), not other
clinicians, not the front desk or admins. The specialist reads the records the requester
chose, as they were sent, and not the patient's chart.

Also the records a requester may include (read through rpm's, intake's and documents'
selectors with the requester's own access) and the minutes billing reads."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Q, QuerySet, Sum
from django.shortcuts import get_object_or_404
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from documents import selectors as documents_selectors
from intake import selectors as intake_selectors
from rpm import selectors as rpm_selectors
from telehealth.accounts.models import Patient, Role, User
from telehealth.accounts.selectors import patients_visible_to
from visits.evisit_selectors import evisits_visible_to
from visits.models import (
    ConsultSpecialist,
    EConsult,
    EConsultMessage,
    EConsultRecord,
    EConsultTime,
    EVisitPhoto,
    Visit,
)

INBOX_LIMIT = 100
READINGS_SHOWN = 50


def _clinician(user: User) -> bool:
    return (
        user.is_authenticated
        and user.is_active
        and user.role == Role.CLINICIAN
        and user.practice_id is not None
    )


def econsults_visible_to(user: User) -> QuerySet[EConsult]:
    econsults = EConsult.objects.select_related("patient", "practice", "requester", "specialist")
    if not _clinician(user) or user.practice_id is None:
        return econsults.none()
    return econsults.filter(practice_id=user.practice_id).filter(
        Q(requester=user) | Q(specialist=user)
    )


def access_econsult(*, user: User, econsult_id: int) -> EConsult:
    return get_object_or_404(econsults_visible_to(user), pk=econsult_id)


def access_econsult_file(*, user: User, record_id: int) -> EConsultRecord:
    records = EConsultRecord.objects.select_related("econsult__patient").exclude(file="")
    return get_object_or_404(records.filter(econsult__in=econsults_visible_to(user)), pk=record_id)


@dataclass(frozen=True)
class Inbox:
    received: list[EConsult]
    sent: list[EConsult]


def inbox(*, user: User) -> Inbox:
    """The cases sent to this clinician (those waiting on them first, oldest first) and the
    cases they sent (an unread answer or a question to answer first), each list bounded."""
    visible = econsults_visible_to(user)
    waiting = Q(state=EConsult.State.SENT)
    received = list(
        visible.filter(waiting, specialist=user).order_by("sent_at", "pk")[:INBOX_LIMIT]
    )
    received += list(
        visible.filter(specialist=user).exclude(waiting).order_by("-sent_at", "-pk")[:INBOX_LIMIT]
    )
    unread = Q(state=EConsult.State.ANSWERED, answer_read_at__isnull=True) | Q(
        state=EConsult.State.INFO_REQUESTED
    )
    sent = list(visible.filter(unread, requester=user).order_by("-sent_at", "-pk")[:INBOX_LIMIT])
    sent += list(
        visible.filter(requester=user).exclude(unread).order_by("-sent_at", "-pk")[:INBOX_LIMIT]
    )
    return Inbox(received=received, sent=sent)


def specialists_for(user: User) -> QuerySet[ConsultSpecialist]:
    """Specialists this clinician may send a case to: accepting ones of their practice."""
    if not _clinician(user) or user.practice_id is None:
        return ConsultSpecialist.objects.none()
    return (
        ConsultSpecialist.objects.filter(
            practice_id=user.practice_id,
            accepting=True,
            user__is_active=True,
            user__role=Role.CLINICIAN,
            user__practice_id=user.practice_id,
        )
        .exclude(user=user)
        .select_related("user")
    )


def specialist_profile(user: User) -> ConsultSpecialist | None:
    return ConsultSpecialist.objects.filter(user=user).first()


def access_consult_patient(*, user: User, patient_id: int) -> Patient:
    """A patient the clinician may send an e-consult about: on their care team (or under
    their emergency grant)."""
    if not _clinician(user):
        return get_object_or_404(Patient.objects.none(), pk=patient_id)
    return get_object_or_404(patients_visible_to(user), pk=patient_id)


# --- The records a requester may include -----------------------------------------------------


@dataclass(frozen=True)
class Offer:
    key: str  # "vitals", "readings", "answers:<response id>", "photo:<id>", "document:<id>"
    label: str


@dataclass
class Snapshot:
    """One included record as it will be copied into the case."""

    kind: str
    title: str
    rows: list[list[str]]
    content: bytes = b""
    content_type: str = ""


def _when(moment, zone) -> str:
    """A time as text that is kept (the copies are read later, by someone else): in the
    practice's zone, with the zone's abbreviation."""
    return formats.date_format(timezone.localtime(moment, zone), "j M Y, H:i T")


def _photos(user: User, patient: Patient) -> QuerySet[EVisitPhoto]:
    return EVisitPhoto.objects.filter(
        evisit__in=evisits_visible_to(user), evisit__patient=patient
    ).select_related("evisit__condition")


def records_offered(*, user: User, patient: Patient) -> list[Offer]:
    """What this clinician may include about the patient, each once. The caller has checked
    that the patient is theirs (`access_consult_patient`)."""
    offers: list[Offer] = []
    zone = patient.practice.zone
    if rpm_selectors.latest_vitals(patient=patient):
        offers.append(Offer("vitals", _("Latest vitals")))
    if rpm_selectors.recent_readings(patient=patient, limit=1):
        offers.append(Offer("readings", _("Recent readings (last %(n)s)") % {"n": READINGS_SHOWN}))
    for answered in intake_selectors.summary(user=user, patient=patient):
        offers.append(
            Offer(
                f"answers:{answered.response.pk}",
                _("Form answers: %(form)s") % {"form": answered.form.title},
            )
        )
    for photo in _photos(user, patient):
        offers.append(
            Offer(
                f"photo:{photo.pk}",
                _("E-visit photo: %(condition)s, %(when)s")
                % {"condition": photo.evisit.condition.name, "when": _when(photo.created_at, zone)},
            )
        )
    shared = documents_selectors.patient_documents(user=user, patient=patient)
    for document in shared.filter(withdrawn_at__isnull=True):
        offers.append(
            Offer(
                f"document:{document.pk}",
                _("Document: %(title)s") % {"title": document.title},
            )
        )
    return offers


def _read(file) -> bytes:
    with file.open("rb") as opened:
        return opened.read()


def records_snapshot(*, user: User, patient: Patient, keys: list[str]) -> list[Snapshot]:
    """The chosen records as they are now, in the order offered. A key this clinician is not
    offered raises KeyError (the caller answers with a refusal)."""
    offered = {offer.key: offer for offer in records_offered(user=user, patient=patient)}
    unknown = [key for key in keys if key not in offered]
    if unknown:
        raise KeyError(unknown[0])
    wanted = [key for key in offered if key in set(keys)]
    snapshots: list[Snapshot] = []
    zone = patient.practice.zone
    for key in wanted:
        kind, _sep, ident = key.partition(":")
        title = offered[key].label
        if kind == "vitals":
            rows = [
                [str(label), f"{value:g} {unit} ({_when(at, zone)})"]
                for label, value, unit, at in rpm_selectors.latest_vitals(patient=patient)
            ]
            snapshots.append(Snapshot(EConsultRecord.Kind.VITALS, title, rows))
        elif kind == "readings":
            readings = rpm_selectors.recent_readings(patient=patient, limit=READINGS_SHOWN)
            rows = [
                [
                    _when(reading.measured_at, zone),
                    f"{reading.get_vital_display()}: {reading.value:g}",
                ]
                for reading in readings
            ]
            snapshots.append(Snapshot(EConsultRecord.Kind.READINGS, title, rows))
        elif kind == "answers":
            answered = next(
                a
                for a in intake_selectors.summary(user=user, patient=patient)
                if str(a.response.pk) == ident
            )
            rows = [[question, answer] for question, answer, _url in answered.rows]
            snapshots.append(Snapshot(EConsultRecord.Kind.ANSWERS, title, rows))
        elif kind == "photo":
            photo = _photos(user, patient).get(pk=ident)
            rows = [[_("Taken into the e-visit"), _when(photo.created_at, zone)]]
            snapshots.append(
                Snapshot(EConsultRecord.Kind.PHOTO, title, rows, _read(photo.file), "image/jpeg")
            )
        elif kind == "document":
            document = documents_selectors.patient_documents(user=user, patient=patient).get(
                pk=ident
            )
            rows = [[_("Shared"), _when(document.shared_at, zone)]]
            if document.comment:
                rows.append([_("Comment"), document.comment])
            snapshots.append(
                Snapshot(
                    EConsultRecord.Kind.DOCUMENT,
                    title,
                    rows,
                    _read(document.stored) if document.stored else b"",
                    document.file_type,
                )
            )
    return snapshots


# --- The case --------------------------------------------------------------------------------


def messages_of(econsult: EConsult) -> QuerySet[EConsultMessage]:
    return econsult.messages.select_related("author")


def records_of(econsult: EConsult) -> QuerySet[EConsultRecord]:
    return econsult.records.all()


def time_of(econsult: EConsult) -> QuerySet[EConsultTime]:
    return econsult.time_entries.select_related("clinician")


@dataclass(frozen=True)
class ConsultMinutes:
    """The minutes billing reads for the interprofessional codes (the same fields as
    billing.rules.interprofessional.ConsultMinutes): the specialist's cumulative minutes and
    how many were consultative discussion, the requester's, and what the answer was."""

    specialist: int
    specialist_discussion: int
    verbal_report: bool
    answered: bool
    requester: int


def consult_minutes(econsult: EConsult) -> ConsultMinutes:
    totals = {
        (side, discussion): minutes
        for side, discussion, minutes in econsult.time_entries.values("side", "discussion")
        .annotate(minutes=Sum("minutes"))
        .values_list("side", "discussion", "minutes")
    }
    specialist = EConsultTime.Side.SPECIALIST
    discussion = totals.get((specialist, True), 0)
    return ConsultMinutes(
        specialist=discussion + totals.get((specialist, False), 0),
        specialist_discussion=discussion,
        verbal_report=econsult.verbal_report,
        answered=econsult.state == EConsult.State.ANSWERED,
        requester=totals.get((EConsultTime.Side.REQUESTER, False), 0),
    )


# --- What billing's pull reads ---------------------------------------------------------------


def answered_econsults(*, answered_by: datetime) -> QuerySet[EConsult]:
    """Every practice's answered cases, answered at or before a time: a system read for
    billing's periodic pull, which keeps what it has not billed."""
    return (
        EConsult.objects.filter(
            state=EConsult.State.ANSWERED, answered_at__isnull=False, answered_at__lte=answered_by
        )
        .select_related("practice", "patient__practice", "requester", "specialist")
        .order_by("answered_at", "pk")
    )


@dataclass(frozen=True)
class ConsultRecord:
    """The figures billing codes a case from, in the practice's local dates: when it was sent
    and answered, the minutes, the days each side worked on it, and the days the specialist
    saw the patient in a live visit from `around` days before it was sent to `around` days
    after it was answered (or today, while it is open)."""

    sent_on: date
    answered_on: date | None
    minutes: ConsultMinutes
    specialist_days: tuple[date, ...]
    requester_days: tuple[date, ...]
    specialist_visit_days: tuple[date, ...]


def consult_record(econsult: EConsult, *, around: int) -> ConsultRecord:
    zone = econsult.practice.zone
    until = econsult.answered_at or timezone.now()
    # `around` counts local days: a local day's edge can lie a day and a daylight-saving hour
    # beyond `around` days of 24 hours, so the query reaches two days further each way.
    seen = Visit.objects.filter(
        practice_id=econsult.practice_id,
        patient_id=econsult.patient_id,
        provider__user_id=econsult.specialist_id,
        state=Visit.State.ENDED,
        started_at__gte=econsult.sent_at - timedelta(days=around + 2),
        started_at__lte=until + timedelta(days=around + 2),
    ).values_list("started_at", flat=True)
    days = econsult.time_entries.values_list("side", "work_date")
    return ConsultRecord(
        sent_on=timezone.localtime(econsult.sent_at, zone).date(),
        answered_on=timezone.localtime(econsult.answered_at, zone).date()
        if econsult.answered_at
        else None,
        minutes=consult_minutes(econsult),
        specialist_days=tuple(sorted({d for s, d in days if s == EConsultTime.Side.SPECIALIST})),
        requester_days=tuple(sorted({d for s, d in days if s == EConsultTime.Side.REQUESTER})),
        specialist_visit_days=tuple(sorted(timezone.localtime(m, zone).date() for m in seen if m)),
    )
