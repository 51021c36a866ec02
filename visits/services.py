"""Writes of visits: opening, joining, admitting, chat, ending, notes. Live updates go out
through broadcast_on_commit to the visit's groups."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from messaging import services as messaging
from messaging.models import Category, Origin
from scheduling import services as scheduling
from scheduling.models import Appointment, Status
from telehealth import links
from telehealth.accounts.display import state_name
from telehealth.accounts.models import User
from telehealth.accounts.validation import US_STATES
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.fhir_subscriptions import services as fhir_notify
from telehealth.fhir_subscriptions.topics import ENCOUNTER_CHANGED
from telehealth.notify import services as notify
from telehealth.notify import wording
from telehealth.notify.inbound import practice_context
from telehealth.realtime import broadcast_on_commit
from visits import links as visits_links
from visits import selectors
from visits.models import ChatMessage, NoteAddendum, Participant, Presence, Visit, VisitNote


class VisitError(Exception):
    code = "visit_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class AdmissionRefused(VisitError):
    """The admitting clinician may not see the patient where the patient is."""

    def __init__(self, message: str, *, code: str, state: str):
        super().__init__(message)
        self.code = code
        self.state = state


def room_group(visit_id: int) -> str:
    return f"visit.{visit_id}"


def waiting_group(visit_id: int) -> str:
    return f"visit.{visit_id}.waiting"


def visit_for_appointment(appointment: Appointment) -> Visit:
    """The visit of a video or phone appointment, made on first use."""
    visit, _created = Visit.objects.get_or_create(
        appointment=appointment,
        defaults={
            "practice_id": appointment.practice_id,
            "patient_id": appointment.patient_id,
            "provider_id": appointment.provider_id,
            "audio_only": appointment.modality == "phone",
        },
    )
    return visit


def patient_arrives(*, visit: Visit, request=None) -> Participant:
    """The patient enters the waiting room (after the link's date-of-birth check)."""
    with transaction.atomic():
        visit = Visit.objects.select_for_update().get(pk=visit.pk)
        if visit.state == Visit.State.ENDED:
            raise VisitError("This visit has ended.")
        participant, _ = Participant.objects.get_or_create(
            visit=visit,
            role=Participant.Role.PATIENT,
            defaults={"user": visit.patient.user, "display_name": visit.patient.display_name},
        )
        if participant.admitted_at is None and visit.state == Visit.State.SCHEDULED:
            visit.state = Visit.State.WAITING
            visit.waiting_since = timezone.now()
            visit.save(update_fields=["state", "waiting_since"])
            fhir_notify.resources_changed(
                practice_id=visit.practice_id, topic=ENCOUNTER_CHANGED, resource_ids=[visit.pk]
            )
        audit.record(
            action=Action.VIEW,
            obj=visit,
            patient=visit.patient,
            request=request,
            detail="patient entered the waiting room",
        )
    return participant


def clinician_joins(*, visit: Visit, user: User, request=None) -> Participant:
    """A clinician enters the room. Once the patient is in, a remote visit takes only a
    clinician licensed where the patient is (selectors.join_refused_at): otherwise
    AdmissionRefused, after the refusal is audited."""
    with transaction.atomic():
        refused_at = selectors.join_refused_at(visit=visit, clinician=user)
        if refused_at is not None:
            audit.record(
                action=Action.VIEW,
                actor=user,
                obj=visit,
                patient=visit.patient,
                request=request,
                detail=(
                    "clinician refused entry: not licensed where the patient is "
                    f"({refused_at.state or 'not given'})"
                ),
            )
        else:
            participant, created = Participant.objects.get_or_create(
                visit=visit,
                user=user,
                defaults={
                    "role": Participant.Role.CLINICIAN,
                    "display_name": user.full_name,
                    "admitted_at": timezone.now(),
                },
            )
            if (
                not created
                and visit.participants.filter(
                    role=Participant.Role.PATIENT, admitted_at__gt=participant.admitted_at
                ).exists()
            ):
                # Entered before the patient was admitted and checked now: the check holds.
                participant.admitted_at = timezone.now()
                participant.save(update_fields=["admitted_at"])
            if created:
                audit.record(
                    action=Action.VIEW,
                    actor=user,
                    obj=visit,
                    request=request,
                    detail="clinician joined",
                )
    if refused_at is not None:  # raised after the commit: the refusal's audit stays
        raise _join_refusal_error(visit=visit, state=refused_at.state)
    return participant


def _join_refusal_error(*, visit: Visit, state: str) -> AdmissionRefused:
    patient = visit.patient.display_name
    if not state:
        return AdmissionRefused(
            _("%(patient)s has not said where they are right now, so you cannot join this visit.")
            % {"patient": patient},
            code="location_needed",
            state="",
        )
    return AdmissionRefused(
        _(
            "You are not licensed in %(state)s, where %(patient)s is right now, so you cannot "
            "join this visit."
        )
        % {"state": state_name(state), "patient": patient},
        code="not_licensed",
        state=state,
    )


def admit(*, visit: Visit, by: User) -> Visit:
    """Bring the waiting patient in and start the visit. A video or phone visit starts only
    with a clinician licensed in the state the patient is in (their waiting-room answer, else
    their booking's): otherwise AdmissionRefused, after the refusal is audited and the waiting
    patient told. Takes the visit's row lock, as location_confirm does, so an answer given
    meanwhile is judged."""
    with transaction.atomic():
        visit = Visit.objects.select_for_update().get(pk=visit.pk)
        patient = visit.participants.filter(role=Participant.Role.PATIENT).first()
        if patient is None:
            raise VisitError(_("The patient is not in the waiting room."))
        refused_at = (
            selectors.admission_refused_at(visit=visit, clinician=by)
            if patient.admitted_at is None
            else None
        )
        if refused_at is not None:
            _refuse_admission(visit=visit, by=by, state=refused_at.state)
        else:
            _admit(visit=visit, patient=patient, by=by)
    if refused_at is not None:  # raised after the commit: the refusal's audit and push stay
        raise _refusal_error(visit=visit, state=refused_at.state)
    return visit


def _admit(*, visit: Visit, patient: Participant, by: User) -> None:
    if patient.admitted_at is None:
        patient.admitted_at = timezone.now()
        patient.save(update_fields=["admitted_at"])
    if visit.state in (Visit.State.SCHEDULED, Visit.State.WAITING):
        visit.state = Visit.State.IN_PROGRESS
        visit.started_at = visit.started_at or timezone.now()
        visit.admitted_by = by
        visit.save(update_fields=["state", "started_at", "admitted_by"])
        fhir_notify.resources_changed(
            practice_id=visit.practice_id, topic=ENCOUNTER_CHANGED, resource_ids=[visit.pk]
        )
        if visit.appointment and visit.appointment.status in (
            Status.BOOKED,
            Status.CONFIRMED,
            Status.CHECKED_IN,
        ):
            scheduling.appointment_set_status(
                appointment=visit.appointment, status=Status.IN_PROGRESS, by=by
            )
    audit.record(action=Action.UPDATE, actor=by, obj=visit, detail="patient admitted")
    broadcast_on_commit(
        waiting_group(visit.pk), {"type": "visit.event", "event": {"type": "admitted"}}
    )


def _refuse_admission(*, visit: Visit, by: User, state: str) -> None:
    audit.record(
        action=Action.VIEW,
        actor=by,
        obj=visit,
        patient=visit.patient,
        detail=f"admission refused: not licensed where the patient is ({state or 'not given'})",
    )
    # The patient's page words it in their language, naming the state from its own list.
    event = {"type": "location-refused", "state": state} if state else {"type": "location-needed"}
    broadcast_on_commit(waiting_group(visit.pk), {"type": "visit.event", "event": event})


def _refusal_error(*, visit: Visit, state: str) -> AdmissionRefused:
    patient = visit.patient.display_name
    if not state:
        return AdmissionRefused(
            _(
                "%(patient)s has not said where they are right now, so this visit cannot "
                "start yet. They have been asked in the waiting room."
            )
            % {"patient": patient},
            code="location_needed",
            state="",
        )
    return AdmissionRefused(
        _(
            "You are not licensed in %(state)s, where %(patient)s is right now, so this visit "
            "cannot start. They have been told, and can update their location if they are "
            "somewhere else."
        )
        % {"state": state_name(state), "patient": patient},
        code="not_licensed",
        state=state,
    )


def location_confirm(
    *, visit: Visit, state: str, at_home: bool, by: User | None = None, request=None
) -> Visit:
    """The patient says where they are right now (a US state, at home or not). It replaces
    the booking's answer for licensure and billing; the clinicians in the room see it."""
    state = (state or "").strip().upper()
    if state not in US_STATES:
        raise VisitError(_("Choose the US state you are in right now."))
    if not isinstance(at_home, bool):
        raise VisitError(_("Say whether you are at home or somewhere else."))
    with transaction.atomic():
        visit = Visit.objects.select_for_update().get(pk=visit.pk)
        if visit.state == Visit.State.ENDED:
            raise VisitError(_("This visit has ended."))
        visit.patient_state = state
        visit.patient_at_home = at_home
        visit.location_confirmed_at = timezone.now()
        visit.save(update_fields=["patient_state", "patient_at_home", "location_confirmed_at"])
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=visit,
            patient=visit.patient,
            request=request,
            detail=f"patient location confirmed: {state}, {'home' if at_home else 'not home'}",
        )
        event = {"type": "patient-location", "state": state, "at_home": at_home}
        unlicensed = selectors.unlicensed_in_room(visit)
        if unlicensed:
            # The call goes on (cutting it is the greater risk); the room is told, and stays
            # told in its side panel (room_licensure_warning).
            audit.record(
                action=Action.UPDATE,
                actor=by,
                obj=visit,
                patient=visit.patient,
                request=request,
                detail=(
                    f"patient moved during the visit to {state}: not licensed there: "
                    + ", ".join(f"user #{c.user_id}" for c in unlicensed)
                ),
            )
            event |= {"not_licensed": True, "message": room_licensure_warning(visit, unlicensed)}
        broadcast_on_commit(
            room_group(visit.pk),
            {"type": "visit.event", "to_role": Participant.Role.CLINICIAN, "event": event},
        )
    return visit


def room_licensure_warning(visit: Visit, unlicensed: list[Participant]) -> str:
    """What the clinicians in the room read when some of them are not licensed where the
    patient now is."""
    return _(
        "%(patient)s is now in %(state)s, where %(clinicians)s is not licensed. The call "
        "goes on: decide with the patient how to continue their care safely."
    ) % {
        "patient": visit.patient.display_name,
        "state": state_name(selectors.location_of(visit).state),
        "clinicians": ", ".join(c.display_name for c in unlicensed),
    }


def set_provider_status(*, visit: Visit, by: User, text: str) -> None:
    with transaction.atomic():
        visit.provider_status = text.strip()[:120]
        visit.save(update_fields=["provider_status"])
        broadcast_on_commit(
            waiting_group(visit.pk),
            {
                "type": "visit.event",
                "event": {"type": "provider-status", "text": visit.provider_status},
            },
        )


def presence_open(*, participant: Participant) -> Presence:
    return Presence.objects.create(participant=participant)


def presence_close(*, presence_id: int) -> None:
    Presence.objects.filter(pk=presence_id, left_at__isnull=True).update(left_at=timezone.now())


def chat_post(*, visit: Visit, participant: Participant, body: str) -> ChatMessage:
    body = body.strip()
    if not body:
        raise VisitError("Type a message first.")
    if len(body) > 2000:
        raise VisitError("Messages are limited to 2,000 characters.")
    return ChatMessage.objects.create(visit=visit, participant=participant, body=body)


def patient_video_seen(*, visit: Visit) -> None:
    """The patient's browser reported sending video: the visit is not audio-only for billing."""
    Visit.objects.filter(pk=visit.pk, patient_video=False).update(patient_video=True)


def end(*, visit: Visit, by: User) -> Visit:
    """End for everyone: close presences, complete the appointment, record audio-only visits
    (no patient video at any point), and send the summary if the note is already signed."""
    with transaction.atomic():
        visit = Visit.objects.select_for_update().get(pk=visit.pk)
        if visit.state == Visit.State.ENDED:
            return visit
        visit.state = Visit.State.ENDED
        visit.ended_at = timezone.now()
        if visit.started_at and not visit.patient_video:
            visit.audio_only = True
        visit.save(update_fields=["state", "ended_at", "audio_only"])
        fhir_notify.resources_changed(
            practice_id=visit.practice_id, topic=ENCOUNTER_CHANGED, resource_ids=[visit.pk]
        )
        Presence.objects.filter(participant__visit=visit, left_at__isnull=True).update(
            left_at=visit.ended_at
        )
        appointment = visit.appointment
        if appointment and appointment.status == Status.IN_PROGRESS:
            scheduling.appointment_set_status(
                appointment=appointment, status=Status.COMPLETED, by=by
            )
        audit.record(action=Action.UPDATE, actor=by, obj=visit, detail="visit ended")
        summary_send_when_ready(visit=visit, by=by)
        broadcast_on_commit(
            room_group(visit.pk), {"type": "visit.event", "event": {"type": "ended"}}
        )
    return visit


def note_save(*, visit: Visit, by: User, soap: dict[str, str]) -> VisitNote:
    """Autosave: refused once the note is signed (changes become addenda)."""
    clean = {
        k: str(soap.get(k, ""))[:20000] for k in ("subjective", "objective", "assessment", "plan")
    }
    with transaction.atomic():
        note, _ = VisitNote.objects.select_for_update().get_or_create(
            visit=visit, defaults={"author": by}
        )
        if note.signed_at:
            raise VisitError("This note is signed. Add an addendum instead.")
        note.soap = clean
        note.save(update_fields=["soap", "updated_at"])
        audit.record(
            action=Action.UPDATE, actor=by, obj=note, patient=visit.patient, detail="note saved"
        )
    return note


def note_sign(*, visit: Visit, by: User) -> VisitNote:
    """Sign and lock the note. An empty note cannot be signed."""
    with transaction.atomic():
        note = VisitNote.objects.select_for_update().filter(visit=visit).first()
        if note is None or not any(str(v).strip() for v in note.soap.values()):
            raise VisitError(_("Write the note before signing it."))
        if not note.signed_at:
            note.signed_at, note.signed_by = timezone.now(), by
            note.save(update_fields=["signed_at", "signed_by"])
            audit.record(
                action=Action.UPDATE,
                actor=by,
                obj=note,
                patient=visit.patient,
                detail="note signed",
            )
            summary_send_when_ready(visit=Visit.objects.get(pk=visit.pk), by=by)
    return note


def addendum_add(*, visit: Visit, by: User, body: str) -> NoteAddendum:
    """Amend a signed note: the note stays as signed; the addendum is kept beside it."""
    body = body.strip()
    if not body:
        raise VisitError(_("Write the addendum first."))
    if len(body) > 5000:
        raise VisitError(_("An addendum is limited to 5,000 characters."))
    with transaction.atomic():
        note = VisitNote.objects.select_for_update().filter(visit=visit).first()
        if note is None or not note.signed_at:
            raise VisitError(_("The note is not signed yet: edit it instead."))
        addendum = NoteAddendum.objects.create(note=note, author=by, body=body)
        audit.record(
            action=Action.CREATE,
            actor=by,
            obj=addendum,
            patient=visit.patient,
            detail="note addendum",
        )
    return addendum


def summary_send_when_ready(*, visit: Visit, by: User | None) -> bool:
    """Send the after-visit summary once the visit has ended and its note is signed, whichever
    comes last, once only. It goes as a message from the practice in the patient's inbox, so
    messaging delivers it their way (a text, or an email pointing to the portal); the message
    holds only a link, and the link asks for the date of birth."""
    if visit.state != Visit.State.ENDED or visit.summary_sent_at:
        return False
    if not VisitNote.objects.filter(visit=visit, signed_at__isnull=False).exists():
        return False
    now = timezone.now()
    if not Visit.objects.filter(pk=visit.pk, summary_sent_at__isnull=True).update(
        summary_sent_at=now
    ):
        return False  # the other of end and sign got here first
    visit.summary_sent_at = now
    patient = visit.patient
    _subject, text = notify.wording_for(
        practice=patient.practice,
        key="visit.summary",
        channel="sms",
        language=patient.preferred_language,
    )
    body = wording.render(
        text,
        {
            **practice_context(patient),
            "provider_name": visit.provider.display_name if visit.provider else "",
            "summary_link": links.url_for(visits_links.SUMMARY, visit),
        },
    )
    messaging.thread_start(
        patient=patient,
        subject=_("Your visit summary"),
        body=body,
        category=Category.CLINICAL,
        origin=Origin.STAFF,
        by=by,
    )
    return True


INVITE_HOURS = 4


def _token_hash(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


class VisitFull(VisitError):
    """One more person would go past what the peer-to-peer mesh holds: the visit must move to
    a group room first (visits/move_services.py)."""

    code = "visit_full"


def people_in_visit(visit: Visit) -> int:
    """Who the visit holds or expects: its participants (patient, clinicians, guests who came
    by link) and the guest links not used yet, which could still bring someone."""
    from visits.models import GuestInvite

    return (
        visit.participants.count()
        + GuestInvite.objects.filter(
            visit=visit, used_at__isnull=True, expires_at__gt=timezone.now()
        ).count()
    )


def guest_invite(*, visit: Visit, by: User, display_name: str) -> str:
    """Make a one-time link for a guest; returns the token (shown once, stored hashed).
    VisitFull when the guest would be the visit's fifth person (MAX_PARTICIPANTS): the
    clinician is offered the move to a group room instead. Takes the visit's row lock, so two
    invitations at once cannot both be the fourth."""
    import secrets

    from visits.models import MAX_PARTICIPANTS, GroupSession, GuestInvite

    name = display_name.strip()[:120]
    if not name:
        raise VisitError("Give the guest's name, as the others will see it.")
    if visit.state == Visit.State.ENDED:
        raise VisitError("This visit has ended.")
    token = secrets.token_urlsafe(24)
    with transaction.atomic():
        visit = Visit.objects.select_for_update().get(pk=visit.pk)
        if GroupSession.objects.filter(visit=visit).exists():
            raise VisitError(
                _(
                    "This visit moved to a group room, which guests cannot join by link yet. "
                    "Invite patients of the practice and clinicians from the group session's "
                    "page."
                )
            )
        if people_in_visit(visit) >= MAX_PARTICIPANTS:
            raise VisitFull(
                _(
                    "This visit already has %(count)d people, the most a video visit holds. "
                    "Move it to a group room to bring in more."
                )
                % {"count": MAX_PARTICIPANTS}
            )
        GuestInvite.objects.create(
            visit=visit,
            token_hash=_token_hash(token),
            display_name=name,
            created_by=by,
            expires_at=timezone.now() + timedelta(hours=INVITE_HOURS),
        )
        audit.record(
            action=Action.UPDATE, actor=by, obj=visit, patient=visit.patient, detail="guest invited"
        )
    return token


def guest_redeem(*, token: str, request=None) -> Participant:
    """Use a guest link: once only, before it expires. The guest is admitted (the clinician
    invited them)."""
    from visits.models import GuestInvite

    with transaction.atomic():
        invite = (
            GuestInvite.objects.select_for_update()
            .select_related("visit")
            .filter(token_hash=_token_hash(token))
            .first()
        )
        if invite is None or invite.used_at or invite.expires_at <= timezone.now():
            raise VisitError(
                "This invitation link was used already or has expired. Ask the "
                "clinician for a new one."
            )
        if invite.visit.state == Visit.State.ENDED:
            raise VisitError("This visit has ended.")
        if hasattr(invite.visit, "group_session"):
            raise VisitError(
                _(
                    "This visit moved to a group room, which guests cannot join by link yet. "
                    "Ask the clinician how to join."
                )
            )
        participant = Participant.objects.create(
            visit=invite.visit,
            role=Participant.Role.GUEST,
            display_name=invite.display_name,
            admitted_at=timezone.now(),
        )
        invite.used_at = timezone.now()
        invite.participant = participant
        invite.save(update_fields=["used_at", "participant"])
        audit.record(
            action=Action.VIEW,
            obj=invite.visit,
            patient=invite.visit.patient,
            request=request,
            detail=f"guest joined: {invite.display_name}"[:300],
        )
    return participant


def walk_in_request(*, patient, request=None) -> Visit:
    """A patient asks to be seen now: an on-demand visit in the practice's walk-in queue.
    One open request per patient: asking again returns the same visit."""
    with transaction.atomic():
        open_request = Visit.objects.filter(
            patient=patient,
            appointment__isnull=True,
            state__in=[Visit.State.WAITING, Visit.State.IN_PROGRESS],
        ).first()
        if open_request is not None:
            return open_request
        visit = Visit.objects.create(practice_id=patient.practice_id, patient=patient)
        audit.record(
            action=Action.CREATE,
            actor=getattr(request, "user", None),
            obj=visit,
            patient=patient,
            request=request,
            detail="walk-in request",
        )
    patient_arrives(visit=visit, request=request)
    return visit


def walk_in_take(*, visit: Visit, by: User) -> Visit:
    """A clinician takes a walk-in: they become its provider and join the room."""
    from telehealth.accounts.models import CareTeamReason
    from telehealth.accounts.services import care_team_add

    with transaction.atomic():
        visit = Visit.objects.select_for_update().get(pk=visit.pk)
        if visit.appointment_id is not None or visit.state != Visit.State.WAITING:
            raise VisitError("This patient is no longer waiting.")
        if visit.provider is not None and visit.provider.user_id != by.pk:
            raise VisitError("Another clinician has taken this patient.")
        provider = getattr(by, "provider", None)
        if provider is None:
            raise VisitError("Only clinicians with a provider profile can see walk-ins.")
        visit.provider = provider
        visit.save(update_fields=["provider"])
        care_team_add(patient=visit.patient, clinician=by, reason=CareTeamReason.ASSIGNED, by=by)
        clinician_joins(visit=visit, user=by)
    return visit
