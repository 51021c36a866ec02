"""Pages and JSON endpoints of group sessions. Staff: the list, schedule, edit, cancel, and a
session's roster with attendance minutes. Patients: their sessions and the name others see.
The room: join and leave (invited patients, host, co-hosts) and the host's controls."""

from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from telehealth.accounts.access import (
    clinician_required,
    patient_required,
    role_required,
    staff_required,
)
from telehealth.accounts.models import Role
from telehealth.audit.phi import note_phi_access, phi_view
from visits import group_live, janus
from visits import group_selectors as selectors
from visits import group_services as services
from visits.forms import GroupSessionForm
from visits.models import GroupSession

in_room_required = role_required(Role.PATIENT, Role.CLINICIAN)


def _refused(error: Exception, status: int) -> JsonResponse:
    return JsonResponse({"error": str(error)}, status=status)


# --- Staff --------------------------------------------------------------------------------


@staff_required
def staff_list(request) -> HttpResponse:
    return render(
        request,
        "visits/group_list.html",
        {
            "sessions": selectors.staff_group_sessions(request.user).prefetch_related("invitees"),
            "media_ready": bool(janus.instances()),
        },
    )


def _form_data(form: GroupSessionForm) -> dict:
    data = form.cleaned_data
    return {
        "title": data["title"],
        "host": data["host"],
        "co_hosts": list(data["co_hosts"]),
        "starts_at": data["starts_at"],
        "ends_at": data["ends_at"],
        "capacity": data["capacity"],
        "open_for_booking": data["open_for_booking"],
        "modality": data["modality"],
        "patients": list(data["patients"]),
    }


@staff_required
@phi_view
@require_http_methods(["GET", "POST"])
def new(request) -> HttpResponse:
    form = GroupSessionForm(request.POST or None, practice=request.user.practice)
    if request.method == "POST" and form.is_valid():
        session = services.group_session_create(
            by=request.user, request=request, **_form_data(form)
        )
        messages.success(request, _("Group session scheduled."))
        return redirect("visits:group", session.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "visits/group_form.html", {"form": form}, status=status)


@staff_required
@phi_view
@require_http_methods(["GET", "POST"])
def edit(request, session_id: int) -> HttpResponse:
    session = selectors.access_group_session(user=request.user, session_id=session_id)
    if session.state == GroupSession.State.CANCELLED:
        messages.error(request, _("This group session was cancelled."))
        return redirect("visits:group", session.pk)
    initial = {
        "title": session.title,
        "host": session.host,
        "co_hosts": session.co_hosts.all(),
        "starts_at": session.starts_at,
        "ends_at": session.ends_at,
        "capacity": session.capacity,
        "open_for_booking": session.open_for_booking,
        "modality": session.modality,
        "patients": [i.patient for i in selectors.roster(session)],
    }
    form = GroupSessionForm(request.POST or None, practice=request.user.practice, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.group_session_update(
                session=session, by=request.user, request=request, **_form_data(form)
            )
        except services.GroupRefused as refused:  # the room's media server refused or is down
            form.add_error(None, str(refused))
            status = refused.status
        else:
            messages.success(request, _("Group session saved."))
            return redirect("visits:group", session.pk)
    for invitation in selectors.roster(session):
        note_phi_access(request, session, patient=invitation.patient)
    if request.method == "POST" and status == 200:
        status = 400
    return render(
        request, "visits/group_form.html", {"form": form, "session": session}, status=status
    )


@staff_required
@phi_view
def detail(request, session_id: int) -> HttpResponse:
    session = selectors.access_group_session(user=request.user, session_id=session_id)
    invitees = list(selectors.roster(session))
    for invitation in invitees:
        note_phi_access(request, session, patient=invitation.patient)
    if not invitees:
        note_phi_access(request, session)
    minutes = selectors.attendance_minutes(session=session)
    return render(
        request,
        "visits/group_detail.html",
        {
            "session": session,
            "rows": [(i, minutes.get(i.patient.user_id or 0)) for i in invitees],
            "host_minutes": minutes.get(session.host_id),
            "co_hosts": session.co_hosts.all(),
            "media_ready": bool(janus.instances()),
            "can_join": session.state == GroupSession.State.SCHEDULED
            and selectors.is_host(session, request.user),
        },
    )


@staff_required
@require_POST
def cancel(request, session_id: int) -> HttpResponse:
    session = selectors.access_group_session(user=request.user, session_id=session_id)
    services.group_session_cancel(session=session, by=request.user, request=request)
    messages.success(request, _("Group session cancelled."))
    return redirect("visits:group", session.pk)


# --- Patients -----------------------------------------------------------------------------


def _mine_page(request, *, error: str = "", status: int = 200) -> HttpResponse:
    note_phi_access(request, request.user.patient)
    return render(
        request,
        "visits/group_mine.html",
        {
            "invitations": selectors.patient_group_invitations(request.user),
            "bookable": selectors.bookable_group_sessions(request.user),
            "error": error,
            "now": timezone.now(),
        },
        status=status,
    )


@patient_required
@phi_view
def mine(request) -> HttpResponse:
    return _mine_page(request)


@patient_required
@phi_view
@require_POST
def book(request, session_id: int) -> HttpResponse:
    """A patient books a place in a session open for booking; a refusal (full, started,
    already booked) is shown on their sessions page with its status and nothing written."""
    session = selectors.access_bookable_group_session(user=request.user, session_id=session_id)
    try:
        services.group_seat_book(session=session, patient=request.user.patient, request=request)
    except services.GroupRefused as refused:
        return _mine_page(request, error=str(refused), status=refused.status)
    messages.success(request, _("Your place is booked."))
    return redirect("visits:groups-mine")


@patient_required
@phi_view
@require_POST
def give_up(request, session_id: int) -> HttpResponse:
    invitation = selectors.access_group_invitation(user=request.user, session_id=session_id)
    try:
        services.group_seat_cancel(invitation=invitation, request=request)
    except services.GroupRefused as refused:
        return _mine_page(request, error=str(refused), status=refused.status)
    messages.success(request, _("You gave up your place."))
    return redirect("visits:groups-mine")


@patient_required
@require_POST
def name_choice(request, session_id: int) -> HttpResponse:
    invitation = selectors.access_group_invitation(user=request.user, session_id=session_id)
    choice = request.POST.get("show_full_name")
    if choice not in ("0", "1"):
        messages.error(request, _("Choose how others see your name."))
        return redirect("visits:groups-mine")
    services.group_name_choose(invitation=invitation, show_full_name=choice == "1", request=request)
    messages.success(request, _("Saved."))
    return redirect("visits:groups-mine")


# --- The room -----------------------------------------------------------------------------


@in_room_required
def room(request, session_id: int) -> HttpResponse:
    """The in-room page: device check, then the room through Janus (static/js/group-room.js).
    Media and names come over Janus once the page joins; the page itself holds no PHI."""
    session = selectors.access_group_room(user=request.user, session_id=session_id)
    return render(
        request,
        "visits/group_room.html",
        {
            "session": session,
            "is_host": selectors.is_host(session, request.user),
            "media_ready": bool(janus.instances()),
            "back_url": reverse(
                "visits:group" if request.user.role == Role.CLINICIAN else "visits:groups-mine",
                args=[session.pk] if request.user.role == Role.CLINICIAN else [],
            ),
        },
    )


@clinician_required
@phi_view
def people(request, session_id: int) -> JsonResponse:
    """Hosts: who is in the room now, to mute or remove them from their tile."""
    session = selectors.access_group_room(user=request.user, session_id=session_id)
    if not selectors.is_host(session, request.user):
        return JsonResponse({"error": _("Only the host and co-hosts can do this.")}, status=403)
    people = selectors.people_in_room(session)
    patients = [p["patient"] for p in people if p["patient"] is not None]
    for patient in patients:
        note_phi_access(request, session, patient=patient)
    if not patients:
        note_phi_access(request, session)
    return JsonResponse(
        {"people": [{k: p[k] for k in ("attendance_id", "feed", "display")} for p in people]}
    )


# --- The room (JSON) ----------------------------------------------------------------------


@in_room_required
@require_POST
def join(request, session_id: int) -> JsonResponse:
    session = selectors.access_group_room(user=request.user, session_id=session_id)
    try:
        room_pass = services.group_join(session=session, user=request.user, request=request)
    except services.GroupRefused as error:
        return _refused(error, error.status)
    except janus.JanusError as error:
        return _refused(error, 409)
    return JsonResponse(room_pass.as_json())


@in_room_required
@require_POST
def leave(request, session_id: int) -> JsonResponse:
    session = selectors.access_group_room(user=request.user, session_id=session_id)
    stretch = services.group_leave(session=session, user=request.user)
    return JsonResponse({"left": stretch is not None})


@clinician_required
@require_POST
def remove(request, session_id: int, attendance_id: int) -> JsonResponse:
    session = selectors.access_group_room(user=request.user, session_id=session_id)
    attendance = selectors.access_attendance(session=session, attendance_id=attendance_id)
    try:
        services.group_remove(
            session=session, by=request.user, attendance=attendance, request=request
        )
    except services.GroupRefused as error:
        return _refused(error, error.status)
    # Told here, after the removal committed, so group_remove stays about Janus and the row.
    group_live.tell_removed(session=session, attendance=attendance)
    return JsonResponse({"removed": True})


@clinician_required
@require_POST
def mute(request, session_id: int, attendance_id: int) -> JsonResponse:
    session = selectors.access_group_room(user=request.user, session_id=session_id)
    attendance = selectors.access_attendance(session=session, attendance_id=attendance_id)
    choice = request.POST.get("mute", "1")
    if choice not in ("0", "1"):
        return JsonResponse({"error": _("mute must be 0 or 1.")}, status=400)
    try:
        services.group_mute(
            session=session,
            by=request.user,
            attendance=attendance,
            mute=choice == "1",
            request=request,
        )
    except services.GroupRefused as error:
        return _refused(error, error.status)
    return JsonResponse({"muted": choice == "1"})
