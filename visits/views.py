"""Pages of a video visit: the patient's join link and waiting room, the visit room, the
clinician's list of today's visits, and the SOAP note endpoints."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.db.models import Model
from django.http import Http404, HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from intake import selectors as intake_selectors
from messaging import selectors as messaging_selectors
from rpm import selectors as rpm_selectors
from scheduling import links as scheduling_links
from scheduling.models import ACTIVE_STATUSES
from scheduling.selectors import appointments_visible_to, day_bounds
from telehealth import json_input, links
from telehealth.accounts.access import (
    clinician_required,
    patient_required,
    staff_required,
)
from telehealth.accounts.display import US_STATE_NAMES, state_name
from telehealth.accounts.models import Role
from telehealth.audit.phi import note_phi_access, phi_view
from visits import links as visits_links
from visits import move_services, selectors, services
from visits.forms import AddendumForm, DateOfBirthForm, LocationForm, NoteForm
from visits.ice import ice_servers
from visits.models import Participant, Visit, VisitNote


def _date_of_birth(
    request: HttpRequest, form: DateOfBirthForm, kind: str, obj: Model
) -> links.DateOfBirth:
    """The date-of-birth check of a patient's link (one attempt counter per patient over
    every kind of link); a wrong answer shows on the form."""
    typed = (
        form.cleaned_data["date_of_birth"] if request.method == "POST" and form.is_valid() else None
    )
    outcome = links.date_of_birth_check(kind=kind, obj=obj, date_of_birth=typed)
    if outcome == links.DateOfBirth.WRONG:
        form.add_error("date_of_birth", _("That date of birth does not match our records."))
    return outcome


def _grant_visit(request, visit: Visit) -> None:
    """Open this visit (room, waiting room, summary) to this browser session."""
    request.session.cycle_key()
    grants = request.session.get(selectors.GRANTS_KEY, {})
    grants[str(visit.pk)] = visit.patient_id
    request.session[selectors.GRANTS_KEY] = grants


def _reload_in(remaining: timedelta) -> int:
    """Seconds until the countdown page loads itself again: at the opening when it is near,
    else every few minutes so that "in … minutes" stays about right."""
    seconds = int(remaining.total_seconds()) + 1
    return seconds if seconds <= 15 * 60 else 5 * 60


def _enter_waiting_room(request, appointment, *, grant: bool):
    visit = services.visit_for_appointment(appointment)
    if grant:
        _grant_visit(request, visit)
    try:
        services.patient_arrives(visit=visit, request=request)
    except services.VisitError as error:  # the visit ended, but the link's grace has not
        return render(
            request, "scheduling/link_problem.html", {"problem": error.message}, status=410
        )
    return redirect("visits:waiting", visit_id=visit.pk)


@phi_view
@require_http_methods(["GET", "POST"])
def join(request, token: str):
    """The visit's one join link, in the patient's messages and on their appointment pages. It
    works from the booking until JOIN_GRACE after the end: until the waiting room opens it
    shows the visit and a countdown (and records no arrival); then a date-of-birth check
    (not for the patient signed in to the portal), then the waiting room."""
    try:
        appointment = links.read(scheduling_links.JOIN, token)
    except links.LinkError as error:
        return render(
            request, "scheduling/link_problem.html", {"problem": error.message}, status=410
        )
    now = timezone.now()
    opens_at = scheduling_links.waiting_room_opens_at(appointment)
    if now < opens_at:
        note_phi_access(request, appointment)
        zone = ZoneInfo(appointment.practice.time_zone)
        return render(
            request,
            "visits/join_soon.html",
            {
                "appointment": appointment,
                "opens_at": opens_at,
                "now": now,
                "opens_today": opens_at.astimezone(zone).date() == now.astimezone(zone).date(),
                "reload_in": _reload_in(opens_at - now),
            },
        )
    user = request.user
    if user.is_authenticated and user.is_patient and appointment.patient.user_id == user.pk:
        return _enter_waiting_room(request, appointment, grant=False)
    form = DateOfBirthForm(request.POST or None)
    outcome = _date_of_birth(request, form, scheduling_links.JOIN, appointment)
    if outcome == links.DateOfBirth.LOCKED:
        return render(
            request, "visits/join.html", {"locked": True, "appointment": appointment}, status=429
        )
    if outcome == links.DateOfBirth.RIGHT:
        return _enter_waiting_room(request, appointment, grant=True)
    note_phi_access(request, appointment)
    return render(
        request,
        "visits/join.html",
        {"form": form, "appointment": appointment},
        status=400 if form.errors else 200,
    )


@phi_view
@require_http_methods(["GET", "POST"])
def summary_link(request, token: str):
    """The link in the after-visit summary message: a date-of-birth check, then the summary."""
    try:
        visit = links.read(visits_links.SUMMARY, token)
    except links.LinkError as error:
        return render(
            request, "scheduling/link_problem.html", {"problem": error.message}, status=410
        )
    user = request.user
    if user.is_authenticated and user.is_patient and visit.patient.user_id == user.pk:
        return redirect("visits:summary", visit_id=visit.pk)
    form = DateOfBirthForm(request.POST or None)
    outcome = _date_of_birth(request, form, visits_links.SUMMARY, visit)
    if outcome == links.DateOfBirth.LOCKED:
        return render(
            request, "visits/summary_link.html", {"locked": True, "visit": visit}, status=429
        )
    if outcome == links.DateOfBirth.RIGHT:
        _grant_visit(request, visit)
        return redirect("visits:summary", visit_id=visit.pk)
    return render(
        request,
        "visits/summary_link.html",
        {"form": form, "visit": visit},
        status=400 if form.errors else 200,
    )


@phi_view
def summary(request, visit_id: int):
    """The patient's after-visit summary: the assessment and plan of the signed note."""
    visit = selectors.patient_visit_for_summary(
        user=request.user, session=request.session, visit_id=visit_id
    )
    note_phi_access(request, visit)
    return render(
        request, "visits/summary.html", {"visit": visit, "note": selectors.signed_note(visit)}
    )


def _patient_visit(request, visit_id: int) -> Visit:
    """A patient's own visit: by their portal login, or by the grant of their join link."""
    if request.user.is_authenticated and request.user.is_patient:
        return selectors.access_visit(user=request.user, visit_id=visit_id)
    return selectors.granted_patient_visit(session=request.session, visit_id=visit_id)


@phi_view
def waiting(request, visit_id: int):
    if request.user.is_authenticated and request.user.is_staff_role:
        raise Http404
    visit = _patient_visit(request, visit_id)
    moved = move_services.moved_to(visit)
    if moved is not None:
        return redirect(move_services.group_room_url(moved))
    participant = services.patient_arrives(visit=visit, request=request)
    if participant.admitted_at and visit.state == Visit.State.IN_PROGRESS:
        return redirect("visits:room", visit_id=visit.pk)
    return _waiting_page(request, visit)


def not_licensed_text(state: str) -> str:
    """What the waiting patient reads when their clinician may not see them where they are."""
    return _(
        "Your clinician can't see you while you're in %(state)s. If you're somewhere else, "
        "update your location; the practice has been told."
    ) % {"state": state}


def _location_form(location: selectors.PatientLocation) -> LocationForm:
    """Filled with what we know: the booking's state until they answer; home or not only
    from their own answer."""
    initial: dict[str, str] = {"state": location.state}
    if location.answered:
        initial["place"] = "home" if location.at_home else "other"
    return LocationForm(initial=initial)


def _waiting_page(request, visit: Visit, *, form: LocationForm | None = None, status: int = 200):
    location = selectors.location_of(visit)
    unlicensed = selectors.provider_unlicensed_at(visit)
    return render(
        request,
        "visits/waiting.html",
        {
            "visit": visit,
            "ahead": selectors.waiting_patients_ahead(visit=visit),
            "ice_servers": ice_servers(user_id=f"patient-{visit.patient_id}"),
            "location_form": form or _location_form(location),
            "location_saved": _location_saved(location),
            "not_licensed": not_licensed_text(state_name(unlicensed.state)) if unlicensed else "",
            # The page fills in the state's name when a refusal arrives over the socket.
            "not_licensed_template": not_licensed_text("{state}"),
        },
        status=status,
    )


def _location_saved(location: selectors.PatientLocation) -> str:
    if not location.answered:
        return ""
    place = _("at home") if location.at_home else _("somewhere else")
    return _("Saved: you are in %(state)s, %(place)s.") % {
        "state": state_name(location.state),
        "place": place,
    }


@phi_view
@require_POST
def location(request, visit_id: int):
    """The waiting patient answers "Where are you right now?" (a form post, or fetch asking for
    JSON from the waiting room's script). Their portal login or join-link grant only."""
    if request.user.is_authenticated and request.user.is_staff_role:
        raise Http404
    visit = _patient_visit(request, visit_id)
    form = LocationForm(request.POST)
    if not form.is_valid():
        if _wants_json(request):
            problems = [str(message) for errors in form.errors.values() for message in errors]
            return JsonResponse({"detail": " ".join(problems)}, status=400)
        return _waiting_page(request, visit, form=form, status=400)
    try:
        visit = services.location_confirm(
            visit=visit,
            state=form.cleaned_data["state"],
            at_home=form.at_home,
            by=request.user if request.user.is_authenticated else None,
            request=request,
        )
    except services.VisitError as error:  # the visit ended meanwhile
        if _wants_json(request):
            return JsonResponse({"detail": error.message}, status=409)
        return render(
            request, "scheduling/link_problem.html", {"problem": error.message}, status=409
        )
    if _wants_json(request):
        location = selectors.location_of(visit)
        unlicensed = selectors.provider_unlicensed_at(visit)
        return JsonResponse(
            {
                "state": location.state,
                "at_home": location.at_home,
                "saved": _location_saved(location),
                "not_licensed": (
                    not_licensed_text(state_name(unlicensed.state)) if unlicensed else ""
                ),
            }
        )
    return redirect("visits:waiting", visit_id=visit.pk)


@phi_view
def room(request, visit_id: int):
    participant: Participant | None
    if request.user.is_authenticated and request.user.is_staff_role:
        if not request.user.is_clinician:
            raise Http404
        visit = selectors.access_visit(user=request.user, visit_id=visit_id)
        moved = move_services.moved_to(visit)
        if moved is not None:  # its hosts are the clinicians who were in the visit
            return redirect(move_services.group_room_url(moved))
        try:
            participant = services.clinician_joins(visit=visit, user=request.user, request=request)
        except services.AdmissionRefused as refused:
            return render(
                request, "visits/join_refused.html", {"problem": refused.message}, status=403
            )
    elif request.session.get(selectors.GUEST_KEY, {}).get(str(visit_id)):
        visit, participant = selectors.granted_guest_visit(
            session=request.session, visit_id=visit_id
        )
    else:
        visit = _patient_visit(request, visit_id)
        participant = visit.participants.filter(role=Participant.Role.PATIENT).first()
        if participant is None or participant.admitted_at is None:
            return redirect("visits:waiting", visit_id=visit.pk)
    moved = move_services.moved_to(visit)
    if moved is not None and participant.role != Participant.Role.GUEST:
        # Joining after the move: the visit goes on in its group room.
        return redirect(move_services.group_room_url(moved))
    if visit.state == Visit.State.ENDED:
        if participant.role == Participant.Role.CLINICIAN:
            return redirect("visits:record", visit_id=visit.pk)
        return render(
            request,
            "visits/ended.html",
            {"visit": visit, "is_patient": participant.role == Participant.Role.PATIENT},
        )
    note_phi_access(request, visit)
    context = {
        "visit": visit,
        "participant": participant,
        "is_clinician": participant.role == Participant.Role.CLINICIAN,
    }
    if context["is_clinician"]:
        context["location"] = selectors.location_of(visit)
        unlicensed = selectors.unlicensed_in_room(visit)
        context["licensure_warning"] = (
            services.room_licensure_warning(visit, unlicensed) if unlicensed else ""
        )
        context["location_refused"] = selectors.admission_refused_at(
            visit=visit, clinician=request.user
        )
        # For the live update of the location when the patient answers during the visit.
        context["state_names"] = {code: str(name) for code, name in US_STATE_NAMES.items()}
        provider = getattr(request.user, "provider", None)
        context["licensed_states"] = provider.licensed_states if provider else []
        context["unlicensed_label"] = _("Not licensed in %(state)s") % {"state": "{state}"}
        note = getattr(visit, "note", None)
        context["note_form"] = NoteForm(initial=note.soap if note else None)
        context["note"] = note
        context["patient_waiting"] = visit.participants.filter(
            role=Participant.Role.PATIENT, admitted_at__isnull=True
        ).exists()
        context["patient_age"] = visit.patient.age_on(timezone.localdate())
        context["vitals"] = rpm_selectors.latest_vitals(patient=visit.patient)
        context["rpm_alerts"] = rpm_selectors.open_alerts(patient=visit.patient)
        context["intake"] = intake_selectors.checklist(visit.patient)
        context["intake_answers"] = intake_selectors.summary(
            user=request.user, patient=visit.patient
        )
        context["threads"] = messaging_selectors.threads_visible_to(request.user).filter(
            patient_id=visit.patient_id
        )[:3]
        context["previous_visits"] = selectors.previous_visits(user=request.user, visit=visit)
        context["upcoming"] = (
            appointments_visible_to(request.user)
            .filter(patient_id=visit.patient_id, start__gt=timezone.now())
            .filter(status__in=ACTIVE_STATUSES)
            .exclude(visit=visit)
            .select_related("provider", "appointment_type")
            .order_by("start")[:3]
        )
    return render(request, "visits/room.html", context)


@staff_required
@phi_view
def today(request):
    """Clinicians and front desk: today's video and phone visits, who is waiting, since when."""
    zone = request.user.practice.zone
    start, end = day_bounds(timezone.localtime(timezone.now(), zone).date(), zone)
    appointments = (
        appointments_visible_to(request.user)
        .filter(start__gte=start, start__lt=end, status__in=ACTIVE_STATUSES)
        .exclude(modality="in_person")
        .select_related("visit")
        .order_by("start")
    )
    if request.user.is_clinician:
        appointments = appointments.filter(provider__user=request.user)
    rows = list(appointments)
    join_urls = scheduling_links.join_urls(rows)
    for appointment in rows:
        note_phi_access(request, appointment)
        # Shown beside each row; not a column.
        appointment.intake_status = intake_selectors.status_of(appointment.patient)  # type: ignore[attr-defined]
        appointment.join_url = join_urls.get(appointment.pk, "")  # type: ignore[attr-defined]
        appointment.location = selectors.location_of_appointment(appointment)  # type: ignore[attr-defined]
        appointment.unlicensed = _unlicensed_state(appointment)  # type: ignore[attr-defined]
    walk_ins = list(selectors.walk_in_queue(user=request.user))
    for visit in walk_ins:
        note_phi_access(request, visit)
        visit.location = selectors.location_of(visit)  # type: ignore[attr-defined]
    template = (
        "visits/_today_rows.html" if request.headers.get("HX-Request") else "visits/today.html"
    )
    return render(
        request,
        template,
        {"appointments": rows, "now": timezone.now(), "walk_ins": walk_ins},
    )


def _unlicensed_state(appointment) -> str:
    """The state of a remote appointment's patient where its provider is not licensed."""
    location = appointment.location
    if not location.state or appointment.modality == "in_person":
        return ""
    if selectors.licensed_where_patient_is(provider=appointment.provider, location=location):
        return ""
    return location.state


@clinician_required
@require_POST
def open_visit(request, appointment_id: int):
    appointment = get_object_or_404(
        appointments_visible_to(request.user), pk=appointment_id, modality__in=["video", "phone"]
    )
    visit = services.visit_for_appointment(appointment)
    return redirect("visits:room", visit_id=visit.pk)


@staff_required
@require_POST
def provider_status(request, appointment_id: int):
    appointment = get_object_or_404(appointments_visible_to(request.user), pk=appointment_id)
    visit = services.visit_for_appointment(appointment)
    services.set_provider_status(visit=visit, by=request.user, text=request.POST.get("status", ""))
    messages.success(request, _("The patient sees the new status."))
    return redirect("visits:today")


def _clinician_visit(request, visit_id: int) -> Visit:
    visit = selectors.access_visit(user=request.user, visit_id=visit_id)
    if not visit.participants.filter(user=request.user, role=Participant.Role.CLINICIAN).exists():
        raise Http404
    return visit


def _wants_json(request) -> bool:
    """The room autosaves with fetch (JSON); the visit record page posts plain forms."""
    return request.content_type == "application/json" or "application/json" in request.headers.get(
        "Accept", ""
    )


def _back_to_record(request, visit: Visit, *, error: str = "", done: str = ""):
    if error:
        messages.error(request, error)
    elif done:
        messages.success(request, done)
    return redirect("visits:record", visit_id=visit.pk)


@clinician_required
@require_POST
def note_save(request, visit_id: int):
    visit = _clinician_visit(request, visit_id)
    if not _wants_json(request):
        form = NoteForm(request.POST)
        if not form.is_valid():
            return _back_to_record(request, visit, error=_("The note could not be read."))
        try:
            services.note_save(visit=visit, by=request.user, soap=form.cleaned_data)
        except services.VisitError as error:
            return _back_to_record(request, visit, error=error.message)
        return _back_to_record(request, visit, done=_("Note saved."))
    try:
        payload = json_input.request_json(request, empty={})
    except json_input.JSONInputError as error:
        return JsonResponse({"detail": error.message}, status=400)
    if not isinstance(payload, dict):
        return JsonResponse({"detail": _("Send the note as a JSON object.")}, status=400)
    try:
        note = services.note_save(visit=visit, by=request.user, soap=payload)
    except services.VisitError as error:
        return JsonResponse({"detail": error.message}, status=409)
    return JsonResponse({"saved_at": note.updated_at.isoformat()})


@clinician_required
@require_POST
def note_sign(request, visit_id: int):
    visit = _clinician_visit(request, visit_id)
    try:
        if not _wants_json(request) and request.POST:
            form = NoteForm(request.POST)  # the record page signs what its form holds
            if form.is_valid():
                services.note_save(visit=visit, by=request.user, soap=form.cleaned_data)
        services.note_sign(visit=visit, by=request.user)
    except services.VisitError as error:
        if _wants_json(request):
            return JsonResponse({"detail": error.message}, status=400)
        return _back_to_record(request, visit, error=error.message)
    if _wants_json(request):
        return JsonResponse({"signed": True})
    return _back_to_record(request, visit, done=_("Note signed and locked."))


@clinician_required
@require_POST
def addendum_add(request, visit_id: int):
    """Any clinician who may see the visit can amend its signed note."""
    visit = selectors.access_visit(user=request.user, visit_id=visit_id)
    form = AddendumForm(request.POST)
    if not form.is_valid():
        return _back_to_record(request, visit, error=_("Write the addendum first."))
    try:
        services.addendum_add(visit=visit, by=request.user, body=form.cleaned_data["body"])
    except services.VisitError as error:
        return _back_to_record(request, visit, error=error.message)
    return _back_to_record(request, visit, done=_("Addendum added."))


@staff_required
@phi_view
def record(request, visit_id: int):
    """After the visit: times and each participant's minutes (billing), and for clinicians the
    note (finish, sign, amend) and the chat transcript. Front desk never sees clinical text."""
    visit = selectors.access_visit(user=request.user, visit_id=visit_id)
    note_phi_access(request, visit)
    context = {
        "visit": visit,
        "minutes": selectors.minutes_by_participant(visit=visit),
        "moved_to": move_services.moved_to(visit),
    }
    if request.user.is_clinician:
        note = VisitNote.objects.filter(visit=visit).prefetch_related("addenda__author").first()
        context.update(
            note=note,
            note_form=NoteForm(initial=note.soap if note else None),
            addendum_form=AddendumForm(),
            can_write_note=visit.participants.filter(
                user=request.user, role=Participant.Role.CLINICIAN
            ).exists(),
            chat=visit.chat.select_related("participant"),
        )
    return render(request, "visits/record.html", context)


async def device_check_offer(request):
    """POST {"sdp": "..."} → {"sdp": answer}. For signed-in users and patients holding a
    visit grant; the echo runs in this process for a few seconds."""
    from asgiref.sync import sync_to_async

    from visits import echo

    if request.method != "POST":
        return JsonResponse({"detail": "POST an offer."}, status=405)
    user = await request.auser()
    has_grant = await sync_to_async(lambda: bool(request.session.get(selectors.GRANTS_KEY)))()
    if not user.is_authenticated and not has_grant:
        return JsonResponse({"detail": _("Open your visit link first.")}, status=403)
    try:
        payload = json_input.request_json(request, empty={})
    except json_input.JSONInputError as error:
        return JsonResponse({"detail": error.message}, status=400)
    try:
        sdp = payload["sdp"]
    except (KeyError, TypeError):
        return JsonResponse({"detail": _('Send the offer as JSON: {"sdp": "..."}.')}, status=400)
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > 20_000:
        return JsonResponse({"detail": _("That is not a WebRTC offer.")}, status=400)
    try:
        answer = await echo.echo_answer(sdp=sdp, ice_servers=ice_servers(user_id="echo"))
    except echo.EchoBusy:
        return JsonResponse(
            {"detail": _("The connection test is busy. Try again in a minute.")}, status=503
        )
    except Exception:
        return JsonResponse({"detail": _("That offer could not be answered.")}, status=400)
    return JsonResponse({"sdp": answer})


@clinician_required
@require_POST
def invite_guest(request, visit_id: int):
    visit = _clinician_visit(request, visit_id)
    try:
        token = services.guest_invite(
            visit=visit, by=request.user, display_name=request.POST.get("name", "")
        )
    except services.VisitFull as full:
        # The room's page asks the clinician to confirm the move (move_to_group).
        return JsonResponse(
            {
                "detail": full.message,
                "code": full.code,
                "move_url": reverse("visits:move-to-group", args=[visit.pk]),
            },
            status=409,
        )
    except services.VisitError as error:
        return JsonResponse({"detail": error.message}, status=400)
    return JsonResponse({"link": request.build_absolute_uri(f"/visits/guest/{token}/")})


@clinician_required
@require_POST
def move_to_group(request, visit_id: int):
    """A clinician in the visit confirms its move to a group room (the same people who may
    invite to it). Fetch gets JSON with the room's address; a plain form post goes there."""
    visit = _clinician_visit(request, visit_id)
    try:
        session = move_services.visit_move_to_group(visit=visit, by=request.user, request=request)
    except services.VisitError as error:
        if _wants_json(request):
            return JsonResponse({"detail": error.message, "code": error.code}, status=409)
        messages.error(request, error.message)
        return redirect("visits:room", visit_id=visit.pk)
    url = move_services.group_room_url(session)
    if _wants_json(request):
        return JsonResponse({"url": url, "session": session.pk})
    return redirect(url)


@clinician_required
@require_POST
def end_moved(request, visit_id: int):
    """End a visit that moved to a group room, from its record (its room is gone): the note's
    summary and billing go on from the visit as after any end."""
    visit = _clinician_visit(request, visit_id)
    if move_services.moved_to(visit) is None:
        return _back_to_record(request, visit, error=_("End this visit from its room."))
    services.end(visit=visit, by=request.user)
    return _back_to_record(request, visit, done=_("Visit ended."))


@require_http_methods(["GET", "POST"])
def guest_join(request, token: str):
    """A guest's one-time link: a page with a button (so link previews do not use it up)."""
    if request.method == "GET":
        return render(request, "visits/guest_join.html", {"token": token})
    try:
        participant = services.guest_redeem(token=token, request=request)
    except services.VisitError as error:
        return render(
            request, "scheduling/link_problem.html", {"problem": error.message}, status=410
        )
    request.session.cycle_key()
    guests = request.session.get(selectors.GUEST_KEY, {})
    guests[str(participant.visit_id)] = participant.pk
    request.session[selectors.GUEST_KEY] = guests
    return redirect("visits:room", visit_id=participant.visit_id)


@patient_required
@require_POST
def walk_in(request):
    patient = getattr(request.user, "patient", None)
    if patient is None:
        raise Http404
    visit = services.walk_in_request(patient=patient, request=request)
    return redirect("visits:waiting", visit_id=visit.pk)


@clinician_required
@require_POST
def walk_in_take(request, visit_id: int):
    visit = get_object_or_404(selectors.walk_in_queue(user=request.user), pk=visit_id)
    try:
        services.walk_in_take(visit=visit, by=request.user)
    except services.VisitError as error:
        messages.error(request, error.message)
        return redirect("visits:today")
    return redirect("visits:room", visit_id=visit.pk)


def chart_section(request, patient) -> str:
    """The patient chart's list of visits (registered with the chart in apps.ready). Front desk
    sees when visits happened; clinicians also see whether each note is signed."""
    if not request.user.is_staff_role:
        return ""
    visits = list(selectors.patient_visit_history(user=request.user, patient_id=patient.pk)[:20])
    return render_to_string(
        "visits/_chart_section.html", {"visits": visits, "patient": patient}, request=request
    )


HOME_WAITING_SHOWN = 8  # the front desk's home names this many waiting patients, then "N more"


def home_section(request) -> str:
    """The staff home's schedule panel (registered with the core's home page in apps.ready).
    A clinician: their own visits today, in the practice's day, with the waiting room's
    state. The front desk: how many visits the practice has today and who is waiting now."""
    user = request.user
    if user.role not in (Role.CLINICIAN, Role.FRONT_DESK) or user.practice_id is None:
        return ""
    zone = user.practice.zone
    now = timezone.now()
    start, end = day_bounds(timezone.localtime(now, zone).date(), zone)
    today = appointments_visible_to(user).filter(
        start__gte=start, start__lt=end, status__in=ACTIVE_STATUSES
    )
    context: dict[str, object] = {"now": now, "zone": zone}
    if user.is_clinician:
        rows = list(today.filter(provider__user=user).select_related("visit").order_by("start"))
        for appointment in rows:
            note_phi_access(request, appointment)
        context["appointments"] = rows
        context["walk_ins"] = selectors.walk_in_queue(user=user).count()
    else:
        waiting = selectors.visits_visible_to(user).filter(
            state=Visit.State.WAITING, waiting_since__gte=start
        )
        shown = list(waiting.order_by("waiting_since")[:HOME_WAITING_SHOWN])
        for visit in shown:
            note_phi_access(request, visit)
        context["day_count"] = today.count()
        context["waiting"] = shown
        context["waiting_count"] = (
            len(shown) if len(shown) < HOME_WAITING_SHOWN else waiting.count()
        )
    # No request: the site-wide context processors would cost queries for nothing here.
    return render_to_string("visits/_home_schedule.html", {**context, "user": user})
