"""Every write to the schedule: one transaction each, audited, effects after commit.

Double-booking is prevented twice: each booking locks its provider's row, so bookings for one
provider run one at a time and a loser sees the winner's appointment; on PostgreSQL an
exclusion constraint over the buffered time range is the last word."""

from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from scheduling import links as scheduling_links
from scheduling import reminders, selectors
from scheduling.calendar import local_text
from scheduling.models import (
    ACTIVE_STATUSES,
    REMOTE_MODALITIES,
    Appointment,
    AppointmentType,
    BookedVia,
    CalendarFeed,
    Status,
    WaitlistEntry,
    WaitlistOffer,
    new_feed_token,
)
from telehealth import links
from telehealth.accounts import services as account_services
from telehealth.accounts.display import state_name
from telehealth.accounts.models import CareTeamReason, Patient, Provider, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.fhir_subscriptions import services as fhir_notify
from telehealth.fhir_subscriptions.topics import APPOINTMENT_CHANGED
from telehealth.notify import services as notify
from telehealth.notify.inbound import practice_context


class BookingError(Exception):
    """A booking that cannot be made, with a message for the person booking."""

    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class SlotTaken(BookingError):
    status_code = 409


class JoinLinkRefused(BookingError):
    status_code = 409


OFFER_MINUTES = 120


def check_licensure(*, provider: Provider, state: str, modality: str) -> None:
    """`state` is where the patient will be during the visit, which may not be their home."""
    if modality in REMOTE_MODALITIES and not provider.is_licensed_in(state):
        raise BookingError(
            _(
                "%(provider)s is not licensed in %(state)s, so a video or phone visit is not "
                "possible. Choose another provider or an in-person visit."
            )
            % {"provider": provider.display_name, "state": state_name(state) or _("your state")}
        )


def _check_bookable(
    *,
    provider: Provider,
    appointment_type: AppointmentType,
    start: datetime,
    exclude_id: int | None = None,
) -> None:
    if start <= timezone.now():
        raise BookingError(_("That time has already passed. Choose a later time."))
    # On PostgreSQL the exclusion constraint judges overlaps in the INSERT itself (a violation
    # becomes SlotTaken), so only the rules need checking here; SQLite checks both.
    found = selectors.open_slots(
        provider=provider,
        appointment_type=appointment_type,
        start=start,
        end=start + timedelta(seconds=1),
        exclude_appointment_id=exclude_id,
        ignore_busy=connection.vendor == "postgresql",
    )
    if start not in found.starts:
        # Distinguish "someone was faster" from "never was a slot".
        blocked = selectors.busy_blocks(
            provider=provider,
            start=start,
            end=start + appointment_type.duration,
            exclude_id=exclude_id,
        )
        if blocked:
            raise SlotTaken(_("Sorry, that time was just taken. Please choose another."))
        raise BookingError(_("That time is not open for booking. Choose one of the times shown."))


def _lock_provider_offering(provider: Provider, appointment_type: AppointmentType) -> None:
    """Lock the provider's row for the rest of the transaction, so bookings for one provider
    run one at a time, and check in the same round trip that they offer this type."""
    offers = (
        Provider.objects.select_for_update(of=("self",))
        .filter(
            pk=provider.pk,
            is_active=True,
            practice_id=appointment_type.practice_id,
            appointment_types=appointment_type,
        )
        .order_by()  # one row: no join of the providers' names to sort it
        .values_list("pk", flat=True)
    )
    if not list(offers):
        raise BookingError(_("That provider does not offer this visit type."))


def appointment_book(
    *,
    provider: Provider,
    patient: Patient,
    appointment_type: AppointmentType,
    start: datetime,
    by: User | None,
    via: str,
    reason: str = "",
    patient_state: str = "",
    replaces: Appointment | None = None,
    request: HttpRequest | None = None,
) -> Appointment:
    """Book one appointment for a known patient. `patient_state` is where they will be during
    the visit (default: their record's state). Raises SlotTaken when another booking won the
    time."""
    state = patient_state or patient.state
    check_licensure(provider=provider, state=state, modality=appointment_type.modality)
    try:
        with transaction.atomic():
            _lock_provider_offering(provider, appointment_type)
            return _insert(
                provider=provider,
                patient=patient,
                appointment_type=appointment_type,
                start=start,
                by=by,
                via=via,
                reason=reason,
                patient_state=state,
                replaces=replaces,
                request=request,
            )
    except IntegrityError as exc:
        # Only the exclusion constraint can fail here once the checks have passed.
        raise SlotTaken(_("Sorry, that time was just taken. Please choose another.")) from exc


def appointment_book_online(
    *,
    provider: Provider,
    appointment_type: AppointmentType,
    start: datetime,
    legal_name: str,
    date_of_birth: date,
    phone: str,
    email: str,
    patient_state: str,
    reason: str = "",
    sms_consent: bool = False,
    preferred_language: str = "en",
    by: User | None = None,
    request: HttpRequest | None = None,
) -> Appointment:
    """The public booking form: find the returning patient (or register a new one) and book,
    all or nothing, so a refused booking leaves no patient behind. `patient_state` is the
    state the person will be in during the visit; a new patient's record takes it as home,
    a returning patient's record keeps theirs."""
    check_licensure(provider=provider, state=patient_state, modality=appointment_type.modality)
    try:
        with transaction.atomic():
            # The provider first, as in appointment_book, so both kinds of booking queue on
            # the same lock.
            _lock_provider_offering(provider, appointment_type)
            patient, _created = account_services.patient_match_or_create(
                practice=appointment_type.practice,
                legal_name=legal_name,
                date_of_birth=date_of_birth,
                phone=phone,
                email=email,
                state=patient_state,
                sms_consent=sms_consent,
                preferred_language=preferred_language,
                by=by,
                request=request,
            )
            return _insert(
                provider=provider,
                patient=patient,
                appointment_type=appointment_type,
                start=start,
                by=by,
                via=BookedVia.ONLINE,
                reason=reason,
                patient_state=patient_state,
                request=request,
            )
    except IntegrityError as exc:
        raise SlotTaken(_("Sorry, that time was just taken. Please choose another.")) from exc
    except ValidationError as exc:  # the new patient's record did not validate
        raise BookingError(" ".join(exc.messages)) from exc


def _insert(
    *,
    provider: Provider,
    patient: Patient,
    appointment_type: AppointmentType,
    start: datetime,
    by: User | None,
    via: str,
    reason: str,
    patient_state: str,
    replaces: Appointment | None = None,
    request: HttpRequest | None = None,
) -> Appointment:
    """The booking itself. The caller holds the provider's lock inside its transaction."""
    if patient.practice_id != appointment_type.practice_id:
        raise BookingError(_("That visit type belongs to another practice."))
    _check_bookable(
        provider=provider,
        appointment_type=appointment_type,
        start=start,
        exclude_id=replaces.pk if replaces else None,
    )
    calendar: dict[str, str | int] = {}
    if replaces is not None:
        # Under the row's lock: a cancellation racing this move either went first (refused
        # here) or waits, and the calendar SEQUENCE read here is the latest.
        replaces = Appointment.objects.select_for_update().get(pk=replaces.pk)
        if replaces.status not in ACTIVE_STATUSES:
            raise BookingError(_("This appointment is no longer active."))
        _finish(replaces, Status.RESCHEDULED, by=by, request=request)
        # The same event in the patient's calendar, moved: same UID, next SEQUENCE.
        calendar = {
            "calendar_uid": replaces.calendar_uid,
            "calendar_sequence": replaces.calendar_sequence + 1,
        }
    before = timedelta(minutes=appointment_type.buffer_before_minutes)
    after = timedelta(minutes=appointment_type.buffer_after_minutes)
    end = start + appointment_type.duration
    appointment = Appointment.objects.create(
        # The patient's practice is the provider's (checked above and by the lock), and the
        # patient's row usually comes with it loaded: the messages read it.
        practice=patient.practice,
        provider=provider,
        patient=patient,
        appointment_type=appointment_type,
        start=start,
        end=end,
        blocked_start=start - before,
        blocked_end=end + after,
        modality=appointment_type.modality,
        booked_by=by,
        booked_via=via,
        reason=reason.strip()[:500],
        patient_state=patient_state,
        replaces=replaces,
        **calendar,
    )
    account_services.care_team_add(
        patient=patient, clinician=provider.user, reason=CareTeamReason.APPOINTMENT, by=by
    )
    audit.record(
        action=Action.CREATE, actor=by, obj=appointment, request=request, detail=f"booked via {via}"
    )
    fhir_notify.resources_changed(
        practice_id=appointment.practice_id,
        topic=APPOINTMENT_CHANGED,
        resource_ids=[appointment.pk],
    )
    reminders.queue_booking_messages(appointment)
    return appointment


def _finish(
    appointment: Appointment, status: str, *, by: User | None, request=None, reason: str = ""
) -> None:
    appointment.status = status
    appointment.cancel_reason = reason[:500]
    fields = ["status", "cancel_reason", "updated_at"]
    if status == Status.CANCELLED:
        # The CANCEL sent to the patient's calendar must outrank every REQUEST before it.
        appointment.calendar_sequence += 1
        fields.append("calendar_sequence")
    appointment.save(update_fields=fields)
    links.revoke(scheduling_links.MANAGE, appointment)
    audit.record(
        action=Action.UPDATE, actor=by, obj=appointment, request=request, detail=f"status {status}"
    )
    fhir_notify.resources_changed(
        practice_id=appointment.practice_id,
        topic=APPOINTMENT_CHANGED,
        resource_ids=[appointment.pk],
    )
    notify.messages_cancel(related=appointment)


def appointment_cancel(
    *, appointment: Appointment, by: User | None, reason: str, request=None
) -> Appointment:
    """Cancel and free the slot, then offer it to the waitlist."""
    with transaction.atomic():
        appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
        if appointment.status not in ACTIVE_STATUSES:
            raise BookingError(_("This appointment is no longer active."))
        _finish(appointment, Status.CANCELLED, by=by, request=request, reason=reason)
        reminders.queue_cancellation_message(appointment)
        waitlist_offer_slot(
            provider=appointment.provider,
            appointment_type=appointment.appointment_type,
            start=appointment.start,
        )
    return appointment


def appointment_reschedule(
    *,
    appointment: Appointment,
    start: datetime,
    by: User | None,
    request=None,
    provider: Provider | None = None,
) -> Appointment:
    """Book the new time (keeping a link to the old appointment) and free the old one."""
    if appointment.status not in ACTIVE_STATUSES:
        raise BookingError(_("This appointment is no longer active."))
    old_start, old_provider = appointment.start, appointment.provider
    with transaction.atomic():
        new = appointment_book(
            provider=provider or appointment.provider,
            patient=appointment.patient,
            appointment_type=appointment.appointment_type,
            start=start,
            by=by,
            via=appointment.booked_via,
            reason=appointment.reason,
            patient_state=appointment.patient_state,
            replaces=appointment,
            request=request,
        )
        waitlist_offer_slot(
            provider=old_provider, appointment_type=appointment.appointment_type, start=old_start
        )
    return new


def appointment_send_join_link(
    *, appointment: Appointment, by: User, request: HttpRequest | None = None
) -> str:
    """Staff send a video visit's join link to the patient now, by the patient's channel
    (`notify.patient_channel`). Answers the channel used; refuses (BookingError) a visit whose
    link would open nothing, and a patient no channel reaches. Each press sends again: the
    patient may have lost the first."""
    with transaction.atomic():
        appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
        problem = scheduling_links.join_link_problem(appointment)
        if problem:
            raise JoinLinkRefused(problem)
        channel = notify.patient_channel(appointment.patient)
        if channel is None:
            raise JoinLinkRefused(
                _(
                    "This patient has no email address and no consent to texts: give them "
                    "the link another way, or add an email address to their record."
                )
            )
        sent_at = timezone.now()
        reminders.queue_join_link_now(
            appointment,
            channel=channel,
            dedupe_key=f"appointment:{appointment.pk}:join_link:staff:{sent_at.isoformat()}",
        )
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=appointment,
            request=request,
            detail=f"join link sent by {channel}",
        )
    return channel


TRANSITIONS: dict[str, set[str]] = {
    Status.CONFIRMED: {Status.BOOKED},
    Status.CHECKED_IN: {Status.BOOKED, Status.CONFIRMED},
    Status.NO_SHOW: {Status.BOOKED, Status.CONFIRMED, Status.CHECKED_IN},
    Status.IN_PROGRESS: {Status.CHECKED_IN, Status.BOOKED, Status.CONFIRMED},
    Status.COMPLETED: {Status.IN_PROGRESS, Status.CHECKED_IN},
}


def appointment_set_status(
    *, appointment: Appointment, status: str, by: User | None, request=None
) -> Appointment:
    with transaction.atomic():
        appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
        if appointment.status not in TRANSITIONS.get(status, set()):
            raise BookingError(
                _("An appointment that is %(current)s cannot become %(new)s.")
                % {"current": appointment.get_status_display(), "new": Status(status).label}
            )
        appointment.status = status
        appointment.save(update_fields=["status", "updated_at"])
        fhir_notify.resources_changed(
            practice_id=appointment.practice_id,
            topic=APPOINTMENT_CHANGED,
            resource_ids=[appointment.pk],
        )
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=appointment,
            request=request,
            detail=f"status {status}",
        )
        if status == Status.NO_SHOW:
            notify.messages_cancel(related=appointment)
            reminders.queue_no_show_follow_up(appointment)
    return appointment


# --- Waitlist -----------------------------------------------------------------------------


def waitlist_join(
    *,
    patient: Patient,
    appointment_type: AppointmentType,
    provider: Provider | None,
    latest: datetime,
    current_appointment: Appointment | None = None,
) -> WaitlistEntry:
    with transaction.atomic():
        entry = WaitlistEntry.objects.create(
            practice_id=patient.practice_id,
            patient=patient,
            appointment_type=appointment_type,
            provider=provider,
            latest=latest,
            current_appointment=current_appointment,
        )
        audit.record(action=Action.CREATE, actor=None, obj=entry, patient=patient)
    return entry


def waitlist_offer_slot(
    *, provider: Provider, appointment_type: AppointmentType, start: datetime, max_offers: int = 3
) -> list[WaitlistOffer]:
    """Offer a freed time to the first few matching waitlisted patients (runs inside the
    freeing transaction; the messages go out through the outbox)."""
    if start <= timezone.now():
        return []
    entries = (
        WaitlistEntry.objects.filter(
            appointment_type=appointment_type,
            state__in=[WaitlistEntry.State.WAITING, WaitlistEntry.State.OFFERED],
            earliest__lte=start,
            latest__gte=start,
        )
        .filter(Q(provider__isnull=True) | Q(provider=provider))  # any provider, or this one
        .select_related("patient")[:max_offers]
    )
    offers = []
    for entry in entries:
        if (
            not provider.is_licensed_in(entry.patient.state or "")
            and appointment_type.modality in REMOTE_MODALITIES
        ):
            continue
        offer = WaitlistOffer.objects.create(
            entry=entry,
            provider=provider,
            start=start,
            expires_at=min(start, timezone.now() + timedelta(minutes=OFFER_MINUTES)),
        )
        entry.state = WaitlistEntry.State.OFFERED
        entry.save(update_fields=["state"])
        offers.append(offer)
        _queue_offer_messages(offer)
    return offers


def _queue_offer_messages(offer: WaitlistOffer) -> None:
    patient = offer.entry.patient
    context = {
        **practice_context(patient),
        "provider_name": offer.provider.display_name,
        "start_local": local_text(offer.start, patient),
        "confirm_link": links.url_for(scheduling_links.OFFER, offer),
    }
    for channel in ("sms", "email"):
        notify.patient_message_enqueue(
            patient=patient,
            channel=channel,
            key="waitlist.offer",
            context=context,
            related=offer,
            dedupe_key=f"waitlist-offer:{offer.pk}:{channel}",
        )


def waitlist_accept(*, offer: WaitlistOffer, request=None) -> Appointment:
    """First to accept books the slot; later acceptors get SlotTaken."""
    if offer.accepted_at is not None or offer.expires_at <= timezone.now():
        raise SlotTaken(_("Sorry, this offer has ended."))
    entry = offer.entry
    with transaction.atomic():
        if entry.current_appointment and entry.current_appointment.is_active:
            appointment = appointment_reschedule(
                appointment=entry.current_appointment,
                start=offer.start,
                by=None,
                provider=offer.provider,
                request=request,
            )
        else:
            appointment = appointment_book(
                provider=offer.provider,
                patient=entry.patient,
                appointment_type=entry.appointment_type,
                start=offer.start,
                by=None,
                via=BookedVia.WAITLIST,
                request=request,
            )
        offer.accepted_at = timezone.now()
        offer.save(update_fields=["accepted_at"])
        entry.state = WaitlistEntry.State.BOOKED
        entry.save(update_fields=["state"])
    return appointment


def calendar_feed_update(*, feed, by: User, regenerate: bool, detail: str):
    if detail not in CalendarFeed.Detail.values:
        raise BookingError(_("Choose what the calendar shows."))
    with transaction.atomic():
        feed.detail = detail
        fields = ["detail"]
        if regenerate:
            feed.token = new_feed_token()  # the old URL stops working at once
            fields.append("token")
        feed.save(update_fields=fields)
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=feed,
            detail="feed token regenerated" if regenerate else "feed detail changed",
        )
    return feed
