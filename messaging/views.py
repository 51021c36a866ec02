"""Pages of messaging: the patient's threads, the staff inbox and thread, bulk messages, the
attachment download and the website chat form. Thin: services write, selectors read."""

from datetime import datetime, time

from csp.constants import SELF
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_http_methods, require_POST

from messaging import selectors, services, sms_media
from messaging.forms import (
    BulkForm,
    NewThreadForm,
    ReplyForm,
    StaffThreadForm,
    StatusForm,
    WebChatForm,
)
from messaging.models import Category, Message, Origin, Thread
from scheduling.models import ACTIVE_STATUSES, Appointment
from telehealth.accounts import selectors as account_selectors
from telehealth.accounts.access import (
    patient_required,
    role_required,
    signed_in_required,
    staff_required,
)
from telehealth.accounts.models import Practice, Role, User
from telehealth.audit.phi import note_phi_access, phi_view
from telehealth.net import client_address
from telehealth.notify import wording
from telehealth.notify.inbound import practice_context
from telehealth.ratelimit import over_limit

WEB_CHATS_PER_HOUR = 5


def _thread_context(request, thread: Thread) -> dict:
    items = list(selectors.messages_for(user=request.user, thread=thread))
    services.mark_read(thread=thread, user=request.user)
    note_phi_access(request, thread)
    return {
        "thread": thread,
        "items": items,
        "last_seq": items[-1].seq if items else 0,
        "other_read": selectors.others_read_seq(thread=thread, user=request.user),
        "form": ReplyForm(),
        "emergency_number": services.settings_for(thread.patient.practice).emergency_number,
    }


def _post_reply(request: HttpRequest, thread: Thread) -> str:
    """The reply form of either side. Returns an error message, or "" when posted."""
    user = request.user
    assert isinstance(user, User)  # both callers require a signed-in user
    form = ReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        return " ".join(str(e) for errors in form.errors.values() for e in errors)
    try:
        message = services.message_post(
            thread=thread,
            by=user,
            body=form.cleaned_data["body"],
            internal=form.cleaned_data["internal"],
            files=form.cleaned_data["attachments"],
            request=request,
        )
    except services.MessagingError as error:
        return error.message
    if message.thread.urgent and message.author_kind == Message.Author.PATIENT:
        _emergency_notice(request, thread)
    return ""


def _emergency_notice(request, thread: Thread) -> None:
    number = services.settings_for(thread.patient.practice).emergency_number
    messages.error(
        request,
        _(
            "If this is an emergency, call %(number)s now or go to the nearest emergency room. "
            "Do not wait for a reply here."
        )
        % {"number": number},
    )


# --- Patients -------------------------------------------------------------------------------


@patient_required
@phi_view
def mine(request):
    threads = list(selectors.patient_threads(user=request.user)[:100])
    for thread in threads:
        note_phi_access(request, thread)
    return render(request, "messaging/mine.html", {"threads": threads})


@patient_required
@require_http_methods(["GET", "POST"])
def new_thread(request):
    patient = getattr(request.user, "patient", None)
    if patient is None:
        raise Http404
    form = NewThreadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            thread, _message = services.thread_start(
                patient=patient,
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
                category=form.cleaned_data["category"],
                by=request.user,
                files=form.cleaned_data["attachments"],
                request=request,
            )
        except services.MessagingError as error:
            form.add_error(None, error.message)
            status = error.status_code
        else:
            thread.refresh_from_db(fields=["urgent"])
            if thread.urgent:
                _emergency_notice(request, thread)
            else:
                messages.success(request, _("Sent. We will reply here."))
            return redirect("messaging:thread", thread_id=thread.pk)
    else:
        status = 400 if request.method == "POST" else 200
    return render(request, "messaging/new.html", {"form": form}, status=status)


@patient_required
@phi_view
@require_http_methods(["GET", "POST"])
def thread(request, thread_id: int):
    thread = selectors.access_thread(user=request.user, thread_id=thread_id)
    if request.method == "POST":
        problem = _post_reply(request, thread)
        if problem:
            messages.error(request, problem)
        return redirect("messaging:thread", thread_id=thread.pk)
    return render(request, "messaging/thread.html", _thread_context(request, thread))


# --- Staff ----------------------------------------------------------------------------------


@staff_required
@phi_view
def inbox(request):
    view = request.GET.get("view", "all")
    if view not in selectors.INBOX_VIEWS:
        view = "all"
    category = request.GET.get("category", "")
    category = category if category in Category.values else ""
    query = request.GET.get("q", "").strip()[:100]
    threads = selectors.inbox(user=request.user, view=view, category=category, query=query)
    page = Paginator(threads, selectors.PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = selectors.mark_my_reads(user=request.user, threads=list(page.object_list))
    for item in page.object_list:
        note_phi_access(request, item)
    context = {
        "page": page,
        "view": view,
        "views": [
            ("all", _("Open")),
            ("unassigned", _("Unassigned")),
            ("mine", _("Mine")),
            ("urgent", _("Urgent")),
            ("mentions", _("Mentions")),
            ("closed", _("Closed")),
        ],
        "category": category,
        "categories": Category.choices,
        "query": query,
        "unread": selectors.unread_threads(user=request.user),
    }
    template = "messaging/_inbox_rows.html" if request.headers.get("HX-Request") else None
    return render(request, template or "messaging/inbox.html", context)


def _staff_thread_context(request, thread: Thread) -> dict:
    context = _thread_context(request, thread)
    patient_context = practice_context(thread.patient)
    context.update(
        status_form=StatusForm(initial={"status": thread.status}),
        staff=selectors.assignable_staff(user=request.user),
        teams=selectors.teams(user=request.user),
        saved_replies=[
            (reply, wording.render(reply.body, patient_context))
            for reply in selectors.saved_replies(user=request.user)
        ],
    )
    return context


@staff_required
@phi_view
@require_http_methods(["GET", "POST"])
def staff_thread(request, thread_id: int):
    thread = selectors.access_thread(user=request.user, thread_id=thread_id)
    if request.method == "POST":
        problem = _post_reply(request, thread)
        if problem:
            messages.error(request, problem)
        return redirect("messaging:staff-thread", thread_id=thread.pk)
    return render(request, "messaging/staff_thread.html", _staff_thread_context(request, thread))


@staff_required
@require_POST
def assign(request, thread_id: int):
    thread = selectors.access_thread(user=request.user, thread_id=thread_id)
    choice = request.POST.get("assignee", "")
    assignee = team = None
    kind, _sep, key = choice.partition(":")
    if kind == "user" and key.isdigit():
        assignee = selectors.assignable_staff(user=request.user).filter(pk=key).first()
    elif kind == "team" and key.isdigit():
        team = selectors.teams(user=request.user).filter(pk=key).first()
    if choice and assignee is None and team is None:
        messages.error(request, _("Choose someone on your practice's staff or a team."))
    else:
        try:
            services.assign(thread=thread, by=request.user, assignee=assignee, team=team)
            messages.success(request, _("Assignment saved."))
        except services.MessagingError as error:
            messages.error(request, error.message)
    return redirect("messaging:staff-thread", thread_id=thread.pk)


@staff_required
@require_POST
def media_retry(request, fetch_id: int):
    """Fetch again a picture a patient texted that could not be fetched."""
    fetch = selectors.access_media_fetch(user=request.user, fetch_id=fetch_id)
    sms_media.media_fetch_retry(fetch=fetch, by=request.user)
    messages.success(request, _("Fetching the picture again. It appears here when it arrives."))
    return redirect("messaging:staff-thread", thread_id=fetch.message.thread_id)


@staff_required
@require_POST
def set_status(request, thread_id: int):
    thread = selectors.access_thread(user=request.user, thread_id=thread_id)
    form = StatusForm(request.POST)
    if form.is_valid():
        services.set_status(thread=thread, by=request.user, status=form.cleaned_data["status"])
        messages.success(request, _("Status saved."))
    else:
        messages.error(request, _("Choose open, waiting on patient or closed."))
    return redirect("messaging:staff-thread", thread_id=thread.pk)


@staff_required
@require_http_methods(["GET", "POST"])
def staff_new(request, patient_id: int):
    """Staff write to a patient first (from the chart)."""
    try:
        patient = account_selectors.access_patient(user=request.user, patient_id=patient_id)
    except account_selectors.BreakGlassRequired as needed:
        raise Http404 from needed
    form = StaffThreadForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        thread, _message = services.thread_start(
            patient=patient,
            subject=form.cleaned_data["subject"],
            body=form.cleaned_data["body"],
            category=form.cleaned_data["category"],
            origin=Origin.STAFF,
            by=request.user,
            request=request,
        )
        messages.success(request, _("Sent."))
        return redirect("messaging:staff-thread", thread_id=thread.pk)
    note_phi_access(request, patient)
    return render(
        request, "messaging/staff_new.html", {"form": form, "patient": patient}, status=200
    )


def _segment(request, form: BulkForm):
    """Patients of the practice with an active appointment in the chosen days."""
    zone = request.user.practice.zone
    start = timezone.make_aware(datetime.combine(form.cleaned_data["visit_from"], time.min), zone)
    end = timezone.make_aware(datetime.combine(form.cleaned_data["visit_to"], time.max), zone)
    appointments = Appointment.objects.filter(
        practice_id=request.user.practice_id,
        start__gte=start,
        start__lte=end,
        status__in=ACTIVE_STATUSES,
    )
    if form.cleaned_data["provider"]:
        appointments = appointments.filter(provider=form.cleaned_data["provider"])
    from telehealth.accounts.models import Patient

    return Patient.objects.filter(
        pk__in=appointments.values("patient_id"), practice_id=request.user.practice_id
    ).select_related("practice")


@role_required(Role.FRONT_DESK, Role.PRACTICE_ADMIN)
@require_http_methods(["GET", "POST"])
def bulk(request):
    """Preview first (how many will get it, and how it reads), then send on confirmation."""
    providers = request.user.practice.providers.all()
    form = BulkForm(request.POST or None, providers=providers)
    preview = None
    if request.method == "POST" and form.is_valid():
        patients = list(_segment(request, form))
        channel = form.cleaned_data["channel"]
        if request.POST.get("confirm") == "send":
            try:
                queued = services.bulk_send(
                    practice=request.user.practice,
                    by=request.user,
                    patients=patients,
                    body=form.cleaned_data["body"],
                    channel=channel,
                )
            except services.MessagingError as error:
                form.add_error("body", error.message)
            else:
                messages.success(request, _("Queued %(count)s messages.") % {"count": queued})
                return redirect("messaging:bulk")
        from telehealth.notify.services import sms_allowed

        reachable = [p for p in patients if (sms_allowed(p) if channel == "sms" else bool(p.email))]
        sample = reachable[0] if reachable else None
        preview = {
            "total": len(patients),
            "reachable": len(reachable),
            "text": wording.render(
                form.cleaned_data["body"],
                practice_context(sample) if sample else wording.SAMPLE_CONTEXT,
            ),
            "segments": wording.sms_size(form.cleaned_data["body"]).segments,
            "channel": channel,
        }
    return render(
        request,
        "messaging/bulk.html",
        {"form": form, "preview": preview},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@signed_in_required
@phi_view
def attachment(request, attachment_id: int):
    found = selectors.access_attachment(user=request.user, attachment_id=attachment_id)
    note_phi_access(request, found.message.thread)
    inline = found.content_type.startswith("image/") or found.content_type == "application/pdf"
    response = FileResponse(
        found.file.open("rb"),
        content_type=found.content_type,
        as_attachment=not inline,
        filename=found.name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


# --- The website chat -----------------------------------------------------------------------


@xframe_options_exempt
@require_http_methods(["GET", "POST"])
def web_chat(request, practice_slug: str):
    """A form a practice embeds on its website (an iframe from `static/js/webchat-embed.js`;
    frame-ancestors limited to the practice's listed sites). It starts a thread that goes on
    by text message."""
    practice = get_object_or_404(Practice, slug=practice_slug)
    chat_settings = services.settings_for(practice)
    form = WebChatForm(request.POST or None, country=practice.country)
    sent = False
    status = 200
    if request.method == "POST" and form.is_valid():
        ip = client_address(request) or ""
        if over_limit(f"webchat:{practice.pk}:{ip}", limit=WEB_CHATS_PER_HOUR, window=3600):
            form.add_error(None, _("Too many messages from here. Please call us instead."))
            status = 429
        else:
            try:
                services.web_chat_start(
                    practice=practice,
                    name=form.cleaned_data["name"],
                    date_of_birth=form.cleaned_data["date_of_birth"],
                    phone=form.cleaned_data["phone"],
                    body=form.cleaned_data["body"],
                    request=request,
                )
            except services.MessagingError as error:
                form.add_error(None, error.message)
                status = error.status_code
            else:
                sent = True
                form = WebChatForm(country=practice.country)
    elif form.errors:
        status = 400
    response = render(
        request,
        "messaging/web_chat.html",
        {"practice": practice, "form": form, "sent": sent},
        status=status,
    )
    ancestors = [o for o in chat_settings.website_origins if str(o).startswith("https://")]
    # django-csp's middleware reads this per-response override (origins differ per practice).
    response._csp_replace = {"frame-ancestors": [SELF, *ancestors]}  # type: ignore[attr-defined]
    return response


def chart_section(request, patient) -> str:
    """The patient chart's conversations and a way to write first (registered in apps.ready)."""
    if not request.user.is_staff_role:
        return ""
    threads = list(
        selectors.threads_visible_to(request.user)
        .filter(patient=patient)
        .order_by("-last_message_at")[:5]
    )
    return render_to_string(
        "messaging/_chart_section.html", {"threads": threads, "patient": patient}, request=request
    )


HOME_THREADS_SHOWN = 5


def home_section(request) -> str:
    """The staff home's messages panel (registered with the core's home page in apps.ready).
    A clinician: open conversations assigned to them or their teams. The front desk: how much
    of the shared inbox is open and unassigned, and the newest unassigned conversations."""
    user = request.user
    if user.role not in (Role.CLINICIAN, Role.FRONT_DESK):
        return ""
    context: dict[str, object] = {}
    if user.is_clinician:
        threads = selectors.inbox(user=user, view="mine")
        shown = list(threads[:HOME_THREADS_SHOWN])
        context["total"] = len(shown) if len(shown) < HOME_THREADS_SHOWN else threads.count()
    else:
        context.update(selectors.inbox_counts(user=user))
        shown = list(selectors.inbox(user=user, view="unassigned")[:HOME_THREADS_SHOWN])
    context["threads"] = selectors.mark_my_reads(user=user, threads=shown)
    for thread in shown:
        note_phi_access(request, thread)
    # No request: the site-wide context processors would cost queries for nothing here.
    return render_to_string("messaging/_home_messages.html", {**context, "user": user})
