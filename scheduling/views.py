"""Pages: public self-booking, manage links, the waitlist offer, staff schedule, the patient's
appointments and provider calendar feeds."""

from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from scheduling import confirmation, patient_page, selectors, services, slot_cache
from scheduling import links as scheduling_links
from scheduling.calendar import provider_feed_ics
from scheduling.forms import (
    PREFERENCE_CHOICES,
    BookingDetailsForm,
    CancelForm,
    WaitlistForm,
)
from scheduling.models import (
    ACTIVE_STATUSES,
    Appointment,
    BookedVia,
    CalendarFeed,
    Modality,
    Status,
)
from scheduling.slot_grid import offered_grid
from telehealth import links, ratelimit
from telehealth.accounts import invitations
from telehealth.accounts import selectors as account_selectors
from telehealth.accounts import services as account_services
from telehealth.accounts.access import (
    clinician_required,
    patient_required,
    role_required,
    staff_required,
)
from telehealth.accounts.display import zone_choices
from telehealth.accounts.models import Practice, Provider, Role
from telehealth.audit.phi import note_phi_access, phi_view
from telehealth.middleware import bad_request
from telehealth.notify import services as notify

DAYS_SHOWN = 7
PREFERENCES = {value for value, _ in PREFERENCE_CHOICES}


def _zone(request, practice: Practice) -> ZoneInfo:
    name = request.GET.get("tz") or request.POST.get("tz") or practice.time_zone
    return ZoneInfo(name if name in selectors.known_time_zones() else practice.time_zone)


def _first_day(request, zone: ZoneInfo) -> date:
    today = timezone.localtime(timezone.now(), zone).date()
    try:
        asked = date.fromisoformat(request.GET.get("from", ""))
    except ValueError:
        return today
    return min(max(asked, today), today + timedelta(days=365))


def _booking_context(
    request, catalog: selectors.BookingCatalog, provider: Provider | None, minute: datetime
):
    practice = catalog.practice
    types = catalog.types
    if provider is not None:
        types = [t for t in types if provider.pk in {p.pk for p in catalog.providers[t.pk]}]
    chosen = next((t for t in types if t.slug == request.GET.get("type")), None)
    zone = _zone(request, practice)
    preference = request.GET.get("prefer", "")
    context = {
        "practice": practice,
        "provider": provider,
        "types": types,
        "chosen": chosen,
        "zone": zone,
        "zones": zone_choices(include=[practice.time_zone, str(zone)], every=False),
        "preference": preference,
        "preferences": PREFERENCE_CHOICES,
        "shown": [],
    }
    if chosen is None:
        return context
    providers = catalog.providers[chosen.pk]
    filter_slug = provider.slug if provider else request.GET.get("provider", "")
    shown = [p for p in providers if not filter_slug or p.slug == filter_slug]
    first_day = _first_day(request, zone)
    grid = partial(
        offered_grid,
        appointment_type=chosen,
        providers=shown,
        practice_slug=practice.slug,
        first_day=first_day,
        days=DAYS_SHOWN,
        zone=zone,
        preference=preference if preference in PREFERENCES else "",
        show_who=provider is None and not filter_slug,
        bounds=selectors.minute_bounds(chosen, minute),
    )
    context.update(
        providers=providers,
        provider_filter=filter_slug,
        shown=shown,
        grid=SimpleLazyObject(grid),  # computed only when the page is rendered, not cached
        first_day=first_day,
        next_day=first_day + timedelta(days=DAYS_SHOWN),
        previous_day=first_day - timedelta(days=DAYS_SHOWN)
        if first_day > timezone.localtime(timezone.now(), zone).date()
        else None,
    )
    return context


def _links_here(request, context) -> bool:
    """Whether the query is one the page itself links to: known parameters, each once, with
    the value the page read it as. Only such pages are cached, so made-up queries cannot fill
    the cache."""
    chosen = context["chosen"]
    filter_slug = context.get("provider_filter", "")
    read = {
        "type": chosen.slug if chosen else None,
        "tz": context["zone"].key,
        "from": context["first_day"].isoformat() if chosen else None,
        "prefer": context["preference"] if context["preference"] in PREFERENCES else None,
        "provider": filter_slug
        if chosen
        and context["provider"] is None
        and (not filter_slug or any(p.slug == filter_slug for p in context["providers"]))
        else None,
    }
    return all(
        name in read and len(values) == 1 and values[0] == read[name]
        for name, values in request.GET.lists()
    )


@require_GET
def book(request, practice_slug: str, provider_slug: str | None = None):
    """Step 1 and 2: choose a visit type, then a suggested or any open time.

    The page's content is cached for the minute under the catalog's and the shown providers'
    slot tokens: under load most views of it are repeats."""
    catalog = selectors.booking_catalog(practice_slug=practice_slug)
    provider = None
    if provider_slug:
        provider = get_object_or_404(
            Provider, practice=catalog.practice, slug=provider_slug, is_active=True
        )
    minute = timezone.now().replace(second=0, microsecond=0)
    context = _booking_context(request, catalog, provider, minute)

    def content() -> str:
        return render_to_string("scheduling/_book_content.html", context, request)

    if _links_here(request, context):
        parts = (
            "book",
            catalog.version,
            catalog.practice.pk,
            provider.pk if provider else None,
            request.META.get("QUERY_STRING", ""),
            translation.get_language(),
            minute.timestamp(),
        )
        html = slot_cache.remember(
            provider_ids=[p.pk for p in context["shown"]], parts=parts, compute=content
        )
    else:
        html = content()
    return render(
        request,
        "scheduling/book.html",
        # Rendered by the template above, escaped there.
        {"practice": catalog.practice, "provider": provider, "content": mark_safe(html)},  # noqa: S308
    )


@require_http_methods(["GET", "POST"])
def book_details(request, practice_slug: str):
    """Step 3: the patient's details, then book."""
    practice = get_object_or_404(Practice, slug=practice_slug)
    params = request.POST if request.method == "POST" else request.GET
    appointment_type = get_object_or_404(
        selectors.bookable_types(practice=practice), slug=params.get("type", "")
    )
    provider = get_object_or_404(
        Provider, practice=practice, slug=params.get("provider", ""), is_active=True
    )
    try:
        start = datetime.fromisoformat(params.get("start", ""))
    except ValueError:
        start = None
    if start is None or start.tzinfo is None:
        messages.error(request, _("That time could not be read. Please choose a time again."))
        return redirect(
            f"{reverse('scheduling:book', args=[practice.slug])}?"
            f"{urlencode({'type': appointment_type.slug})}"
        )
    zone = _zone(request, practice)
    form = BookingDetailsForm(request.POST or None, country=practice.country)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            appointment = services.appointment_book_online(
                provider=provider,
                appointment_type=appointment_type,
                start=start,
                legal_name=data["legal_name"],
                date_of_birth=data["date_of_birth"],
                phone=data["phone"],
                email=data["email"],
                patient_state=data["state"],
                reason=data["reason"],
                sms_consent=data["sms_consent"],
                preferred_language=(request.LANGUAGE_CODE or "en")[:2],
                by=request.user if request.user.is_authenticated else None,
                request=request,
            )
        except services.BookingError as error:
            form.add_error(None, error.message)
            status = error.status_code
        else:
            return redirect(
                "scheduling:manage", token=links.token_for(scheduling_links.MANAGE, appointment)
            )
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "scheduling/book_details.html",
        {
            "practice": practice,
            "appointment_type": appointment_type,
            "provider": provider,
            "start": start,
            "zone": zone,
            "form": form,
        },
        status=status,
    )


def _appointment_from_link(token: str):
    try:
        return links.read(scheduling_links.MANAGE, token), None
    except links.LinkError as error:
        return None, error.message


@phi_view
@require_http_methods(["GET", "POST"])
def manage(request, token: str):
    """The confirmation page and the no-login link in every message: see, cancel, reschedule."""
    appointment, problem = _appointment_from_link(token)
    if appointment is None:
        return render(request, "scheduling/link_problem.html", {"problem": problem}, status=410)
    note_phi_access(request, appointment)
    cancel_form = CancelForm(request.POST or None)
    if request.method == "POST" and cancel_form.is_valid():
        try:
            services.appointment_cancel(
                appointment=appointment,
                by=None,
                reason=cancel_form.cleaned_data["reason"],
                request=request,
            )
        except services.BookingError as error:
            messages.error(request, error.message)
        return render(request, "scheduling/cancelled.html", {"appointment": appointment})
    zone = _zone(request, appointment.practice)
    reschedule = None
    if request.GET.get("reschedule"):
        start, end = selectors.day_bounds(_first_day(request, zone), zone, DAYS_SHOWN)
        reschedule = selectors.open_slots(
            provider=appointment.provider,
            appointment_type=appointment.appointment_type,
            start=start,
            end=end,
            exclude_appointment_id=appointment.pk,
        ).starts
    active = appointment.status in ACTIVE_STATUSES
    return render(
        request,
        "scheduling/manage.html",
        {
            "appointment": appointment,
            "token": token,
            "zone": zone,
            "cancel_form": cancel_form,
            "reschedule": reschedule,
            "waitlist_form": WaitlistForm(),
            "join_link": _join_path(appointment) if active else "",
            "join_closes": appointment.end + scheduling_links.JOIN_GRACE,
            "join_opens": scheduling_links.waiting_room_opens_at(appointment),
            "sections": confirmation.render_sections(request, appointment) if active else [],
            "confirmed_by_email": bool(appointment.patient.email),
            "confirmed_by_text": notify.sms_allowed(appointment.patient),
            **(_account_offer(appointment) if active else {}),
        },
    )


# The confirmation page's "Email me a link" sends at most one invitation per patient in each
# window, however many booking links they (or someone holding one) have.
INVITE_REQUEST_WINDOW = 5 * 60


def _invite_request_key(patient) -> str:
    return f"account-invite-request:{patient.pk}"


def _account_offer(appointment: Appointment) -> dict[str, object]:
    """The "Create your account" panel, for a patient with no portal account yet. It never
    carries the invitation itself: online booking may attach a booking to an existing record
    on a date of birth and a phone number, so holding this page proves nothing about the
    record's email. The panel offers to email the invitation there, and shows that address
    only masked."""
    patient = appointment.patient
    if patient.user_id is not None:
        return {}
    if not patient.email:
        return {"account_needs_email": True}
    if not invitations.invitable(patient):
        return {}  # another account signs in with the email: nothing to offer here
    return {
        "account_offer": True,
        "account_email": invitations.masked_email(patient.email),
        "account_invite_sent": ratelimit.hits(
            _invite_request_key(patient), window=INVITE_REQUEST_WINDOW
        )
        > 0,
    }


@require_POST
def manage_account_invite(request, token: str):
    """The panel's "Email me a link to create my account": the invitation goes to the email on
    the record, never to this page, so only the mailbox's owner can use it."""
    appointment, problem = _appointment_from_link(token)
    if appointment is None:
        return render(request, "scheduling/link_problem.html", {"problem": problem}, status=410)
    if appointment.status not in ACTIVE_STATUSES:
        problem = _("This appointment was cancelled, so it cannot be used to create an account.")
        return render(request, "scheduling/link_problem.html", {"problem": problem}, status=410)
    patient = appointment.patient
    offer = _account_offer(appointment)
    if not offer.get("account_offer"):
        messages.error(request, _("An account invitation cannot be sent from this page."))
        return redirect("scheduling:manage", token=token)
    key = _invite_request_key(patient)
    if ratelimit.over_limit(key, limit=1, window=INVITE_REQUEST_WINDOW):
        messages.error(
            request,
            _(
                "We already emailed you a link a few minutes ago. Check your inbox and spam "
                "folder, or try again in a few minutes."
            ),
        )
        return redirect("scheduling:manage", token=token)
    try:
        account_services.account_invitation_send(patient=patient, by=None, request=request)
    except account_services.AccountError:
        ratelimit.forgive(key, window=INVITE_REQUEST_WINDOW)
        messages.error(request, _("An account invitation cannot be sent from this page."))
        return redirect("scheduling:manage", token=token)
    messages.success(
        request,
        _("We emailed a link to create your account to %(email)s. It works for 14 days.")
        % {"email": offer["account_email"]},
    )
    return redirect("scheduling:manage", token=token)


def _join_path(appointment: Appointment, token: str | None = None) -> str:
    """The join page's address on this server (messages carry the absolute one)."""
    if appointment.modality != Modality.VIDEO:
        return ""
    token = token or links.token_for(scheduling_links.JOIN, appointment)
    return reverse(links.get(scheduling_links.JOIN).url_name, args=[token])


@require_POST
def manage_reschedule(request, token: str):
    appointment, problem = _appointment_from_link(token)
    if appointment is None:
        return render(request, "scheduling/link_problem.html", {"problem": problem}, status=410)
    try:
        start = datetime.fromisoformat(request.POST.get("start", ""))
        if start.tzinfo is None:
            raise ValueError
        new = services.appointment_reschedule(
            appointment=appointment, start=start, by=None, request=request
        )
    except ValueError:
        messages.error(request, _("That time could not be read. Please choose a time again."))
        return redirect(f"{reverse('scheduling:manage', args=[token])}?reschedule=1")
    except services.BookingError as error:
        messages.error(request, error.message)
        return redirect(f"{reverse('scheduling:manage', args=[token])}?reschedule=1")
    messages.success(request, _("Your appointment was moved."))
    return redirect("scheduling:manage", token=links.token_for(scheduling_links.MANAGE, new))


@require_POST
def manage_waitlist(request, token: str):
    appointment, problem = _appointment_from_link(token)
    if appointment is None:
        return render(request, "scheduling/link_problem.html", {"problem": problem}, status=410)
    form = WaitlistForm(request.POST)
    if form.is_valid():
        latest = datetime.combine(
            form.cleaned_data["latest"],
            datetime.min.time(),
            tzinfo=ZoneInfo(appointment.practice.time_zone),
        )
        services.waitlist_join(
            patient=appointment.patient,
            appointment_type=appointment.appointment_type,
            provider=appointment.provider,
            latest=min(latest, appointment.start),
            current_appointment=appointment,
        )
        messages.success(
            request,
            _(
                "You are on the waitlist. If an earlier time opens up, "
                "we will send you a link to take it."
            ),
        )
    else:
        messages.error(request, _("Choose the date by which you would like to be seen."))
    return redirect("scheduling:manage", token=token)


@require_http_methods(["GET", "POST"])
def offer(request, token: str):
    try:
        waitlist_offer = links.read(scheduling_links.OFFER, token)
    except links.LinkError as error:
        return render(
            request, "scheduling/link_problem.html", {"problem": error.message}, status=410
        )
    if request.method == "POST":
        try:
            appointment = services.waitlist_accept(offer=waitlist_offer, request=request)
        except services.BookingError as error:
            return render(
                request,
                "scheduling/offer.html",
                {"offer": waitlist_offer, "problem": error.message},
                status=409,
            )
        return redirect(
            "scheduling:manage", token=links.token_for(scheduling_links.MANAGE, appointment)
        )
    return render(request, "scheduling/offer.html", {"offer": waitlist_offer})


@staff_required
@phi_view
def schedule(request):
    """The practice's day (or week) for front desk, clinicians and admins."""
    practice = request.user.practice
    zone = ZoneInfo(practice.time_zone)
    day = _first_day_any(request, zone)
    days = 7 if request.GET.get("view") == "week" else 1
    start, end = selectors.day_bounds(day, zone, days)
    provider_id = request.GET.get("provider")
    appointments = selectors.practice_schedule(
        user=request.user,
        start=start,
        end=end,
        provider_id=int(provider_id) if provider_id and provider_id.isdigit() else None,
    )
    join_urls = scheduling_links.join_urls(appointments)
    for appointment in appointments:
        note_phi_access(request, appointment)
        # Shown beside each video visit; not a column.
        appointment.join_url = join_urls.get(appointment.pk, "")  # type: ignore[attr-defined]
    return render(
        request,
        "scheduling/schedule.html",
        {
            "appointments": appointments,
            "day": day,
            "days": days,
            "zone": zone,
            "providers": practice.providers.filter(is_active=True),
            "provider_id": provider_id or "",
            "previous": day - timedelta(days=days),
            "next": day + timedelta(days=days),
            "active": ACTIVE_STATUSES,
        },
    )


def _first_day_any(request, zone: ZoneInfo) -> date:
    try:
        return date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        return timezone.localtime(timezone.now(), zone).date()


STAFF_ACTIONS = {
    "check_in": Status.CHECKED_IN,
    "no_show": Status.NO_SHOW,
    "confirm": Status.CONFIRMED,
}


@staff_required
@require_POST
def appointment_action(request, appointment_id: int):
    appointment = selectors.access_appointment(user=request.user, appointment_id=appointment_id)
    action = request.POST.get("action", "")
    try:
        if action == "cancel":
            services.appointment_cancel(
                appointment=appointment,
                by=request.user,
                reason=request.POST.get("reason", "")[:500] or _("Cancelled by the practice"),
                request=request,
            )
        elif action in STAFF_ACTIONS:
            services.appointment_set_status(
                appointment=appointment,
                status=STAFF_ACTIONS[action],
                by=request.user,
                request=request,
            )
        else:
            messages.error(request, _("Unknown action."))
    except services.BookingError as error:
        messages.error(request, error.message)
    day = timezone.localtime(appointment.start, ZoneInfo(appointment.practice.time_zone)).date()
    return redirect(f"{reverse('scheduling:schedule')}?day={day.isoformat()}")


@patient_required
@phi_view
def my_appointments(request):
    try:
        after, before = (
            patient_page.Cursor.parse(request.GET[key]) if request.GET.get(key) else None
            for key in ("after", "before")
        )
    except ValueError:
        return bad_request(request, _("That page of appointments could not be read."))
    page = patient_page.appointments_page(
        user=request.user, now=timezone.now(), after=after, before=before
    )
    patient = getattr(request.user, "patient", None)
    for appointment in page.shown:
        note_phi_access(request, appointment, patient=patient)
    return render(request, "scheduling/my_appointments.html", {"page": page})


def home_section(request) -> str:
    """The patient home's "next visit" panel (registered with the core's home page in
    apps.ready): the next upcoming visit, with its join action for a video visit."""
    if not request.user.is_authenticated or not request.user.is_patient:
        return ""
    appointment = (
        selectors.appointments_visible_to(request.user)
        .filter(end__gte=timezone.now(), status__in=ACTIVE_STATUSES)
        .order_by("start")
        .first()
    )
    if appointment is None:
        return ""
    note_phi_access(request, appointment)
    return render_to_string(
        "scheduling/_next_visit.html",
        {
            "appointment": appointment,
            "join_link": _join_path(appointment),
            "manage_token": links.token_for(scheduling_links.MANAGE, appointment),
        },
        request=request,
    )


@staff_required
@require_POST
def send_join_link(request, appointment_id: int):
    """Staff: send the patient their visit's join link now, by the patient's channel."""
    appointment = selectors.access_appointment(user=request.user, appointment_id=appointment_id)
    back = request.POST.get("next", "")
    if not back.startswith("/") or not url_has_allowed_host_and_scheme(
        back, {request.get_host()}, request.is_secure()
    ):
        back = reverse("scheduling:schedule")
    try:
        channel = services.appointment_send_join_link(
            appointment=appointment, by=request.user, request=request
        )
    except services.BookingError as error:
        return render(
            request,
            "scheduling/join_link_refused.html",
            {"problem": error.message, "back": back},
            status=error.status_code,
        )
    if channel == "sms":
        messages.success(request, _("The join link is on its way by text message."))
    else:
        messages.success(request, _("The join link is on its way by email."))
    return HttpResponseRedirect(back)


@phi_view
@require_GET
def provider_feed(request, token: str):
    """A calendar app's subscription: the token is the credential, revocable by regenerating."""
    feed = (
        CalendarFeed.objects.select_related("provider").filter(token=token, is_active=True).first()
    )
    if feed is None:
        raise Http404
    since = timezone.now() - timedelta(days=30)
    appointments = feed.provider.appointments.filter(
        start__gte=since, status__in=ACTIVE_STATUSES
    ).select_related("patient")
    note_phi_access(request, feed)
    response = HttpResponse(
        provider_feed_ics(feed, appointments), content_type="text/calendar; charset=utf-8"
    )
    return response


@clinician_required
@require_http_methods(["GET", "POST"])
def calendar_feed_settings(request):
    if not hasattr(request.user, "provider"):
        raise Http404
    feed, _created = CalendarFeed.objects.get_or_create(provider=request.user.provider)
    status = 200
    if request.method == "POST":
        try:
            services.calendar_feed_update(
                feed=feed,
                by=request.user,
                regenerate=request.POST.get("action") == "regenerate",
                detail=request.POST.get("detail", feed.detail),
            )
        except services.BookingError as error:
            messages.error(request, error.message)
            status = 400
        else:
            messages.success(request, _("Calendar feed updated."))
            return redirect("scheduling:calendar-feed")
    url = request.build_absolute_uri(reverse("scheduling:feed", args=[feed.token]))
    return render(
        request,
        "scheduling/calendar_feed.html",
        {"feed": feed, "url": url, "details": CalendarFeed.Detail},
        status=status,
    )


def _staff_slot_page(request, *, patient, appointment=None):
    """Shared by booking on behalf of a patient and moving an appointment."""
    practice = request.user.practice
    zone = ZoneInfo(practice.time_zone)
    types = list(selectors.bookable_types(practice=practice, online_only=False))
    chosen = (
        appointment.appointment_type
        if appointment
        else next((t for t in types if t.slug == request.GET.get("type")), None)
    )
    context = {
        "patient": patient,
        "appointment": appointment,
        "types": types,
        "chosen": chosen,
        "zone": zone,
    }
    if chosen is not None:
        providers = list(selectors.providers_for_type(appointment_type=chosen))
        wanted = request.GET.get("provider", "")
        shown = [p for p in providers if not wanted or p.slug == wanted]
        first_day = _first_day(request, zone)
        start, end = selectors.day_bounds(first_day, zone, DAYS_SHOWN)
        slots = []
        for provider in shown:
            found = selectors.open_slots(
                provider=provider,
                appointment_type=chosen,
                start=start,
                end=end,
                exclude_appointment_id=appointment.pk if appointment else None,
            )
            slots += [selectors.OfferedSlot(s, provider) for s in found.starts]
        by_day: dict[date, list] = {}
        for slot in sorted(slots, key=lambda o: (o.start, o.provider.display_name)):
            by_day.setdefault(timezone.localtime(slot.start, zone).date(), []).append(slot)
        context.update(
            providers=providers,
            provider_filter=wanted,
            by_day=sorted(by_day.items()),
            first_day=first_day,
            next_day=first_day + timedelta(days=DAYS_SHOWN),
        )
    return render(request, "scheduling/staff_book.html", context)


def _parse_start(value: str) -> datetime | None:
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        return None
    return start if start.tzinfo else None


def _parse_slot(value: str) -> tuple[str, datetime | None]:
    """A staff slot button's value: "<provider-slug>@<ISO start>"."""
    provider_slug, _sep, start = value.partition("@")
    return provider_slug, _parse_start(start)


@role_required(Role.FRONT_DESK, Role.PRACTICE_ADMIN)
@phi_view
@require_http_methods(["GET", "POST"])
def staff_book(request, patient_id: int):
    """Front desk books on behalf of a patient, by phone or at the desk."""
    patient = account_selectors.access_patient(user=request.user, patient_id=patient_id)
    note_phi_access(request, patient)
    if request.method == "POST":
        provider_slug, start = _parse_slot(request.POST.get("slot", ""))
        kind = get_object_or_404(
            selectors.bookable_types(practice=patient.practice, online_only=False),
            slug=request.POST.get("type", ""),
        )
        provider = get_object_or_404(Provider, practice_id=patient.practice_id, slug=provider_slug)
        if start is None:
            messages.error(request, _("That time could not be read. Please choose again."))
        else:
            try:
                appointment = services.appointment_book(
                    provider=provider,
                    patient=patient,
                    appointment_type=kind,
                    start=start,
                    by=request.user,
                    via=BookedVia.STAFF,
                    request=request,
                )
            except services.BookingError as error:
                messages.error(request, error.message)
            else:
                messages.success(request, _("Booked."))
                day = timezone.localtime(
                    appointment.start, ZoneInfo(patient.practice.time_zone)
                ).date()
                return redirect(f"{reverse('scheduling:schedule')}?day={day.isoformat()}")
    return _staff_slot_page(request, patient=patient)


@role_required(Role.FRONT_DESK, Role.PRACTICE_ADMIN)
@phi_view
@require_http_methods(["GET", "POST"])
def staff_move(request, appointment_id: int):
    appointment = selectors.access_appointment(user=request.user, appointment_id=appointment_id)
    note_phi_access(request, appointment)
    if appointment.status not in ACTIVE_STATUSES:
        messages.error(request, _("This appointment is no longer active."))
        return redirect("scheduling:schedule")
    if request.method == "POST":
        provider_slug, start = _parse_slot(request.POST.get("slot", ""))
        provider = get_object_or_404(
            Provider, practice_id=appointment.practice_id, slug=provider_slug
        )
        try:
            if start is None:
                raise services.BookingError(_("That time could not be read."))
            new = services.appointment_reschedule(
                appointment=appointment,
                start=start,
                by=request.user,
                provider=provider,
                request=request,
            )
        except services.BookingError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Appointment moved."))
            day = timezone.localtime(new.start, ZoneInfo(new.practice.time_zone)).date()
            return redirect(f"{reverse('scheduling:schedule')}?day={day.isoformat()}")
    return _staff_slot_page(request, patient=appointment.patient, appointment=appointment)
