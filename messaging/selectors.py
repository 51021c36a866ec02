"""Reads of messaging, scoped to the acting user. Patients see their own threads and never an
internal note; front desk and admins see their practice's inbox; clinicians see threads of
patients on their care team and threads assigned to them or their teams."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import (
    Count,
    Exists,
    F,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404

from messaging import search
from messaging.models import (
    Attachment,
    Category,
    MediaFetch,
    Message,
    ReadPosition,
    SavedReply,
    Team,
    Thread,
)
from telehealth.accounts.models import Role, User
from telehealth.accounts.selectors import patients_visible_to

PAGE_SIZE = 50


def threads_visible_to(user: User) -> QuerySet[Thread]:
    threads = Thread.objects.select_related("patient", "assignee", "team")
    if not user.is_authenticated:
        return threads.none()
    if user.role == Role.PATIENT:
        return threads.filter(patient__user=user)
    if user.practice_id is None:
        return threads.none()
    if user.role in (Role.FRONT_DESK, Role.PRACTICE_ADMIN):
        return threads.filter(practice_id=user.practice_id)
    if user.role == Role.CLINICIAN:
        return (
            threads.filter(practice_id=user.practice_id)
            .filter(
                Q(patient__in=patients_visible_to(user)) | Q(assignee=user) | Q(team__members=user)
            )
            .distinct()
        )
    return threads.none()


def access_thread(*, user: User, thread_id: int) -> Thread:
    return get_object_or_404(threads_visible_to(user), pk=thread_id)


def messages_for(*, user: User, thread: Thread, after: int = 0) -> QuerySet[Message]:
    """The thread's messages this user may read, after a sequence number (catch-up)."""
    messages = (
        Message.objects.filter(thread=thread, seq__gt=after)
        .select_related("author")
        .prefetch_related("attachments", "media_fetches")
        .order_by("seq")
    )
    if user.role == Role.PATIENT:
        messages = messages.filter(internal=False)
    return messages


def messages_visible_to(user: User) -> QuerySet[Message]:
    """Every message of every thread the user may see, as messages_for shows them: a
    patient never gets an internal note."""
    messages = Message.objects.filter(thread__in=threads_visible_to(user)).select_related(
        "thread__patient", "thread__practice", "thread__team", "author__provider"
    )
    if user.role == Role.PATIENT:
        messages = messages.filter(internal=False)
    return messages


def read_seq(*, thread: Thread, user: User) -> int:
    found = ReadPosition.objects.filter(thread=thread, user=user).values_list("seq", flat=True)
    return found.first() or 0


def others_read_seq(*, thread: Thread, user: User) -> int:
    """How far the other side has read: the patient, for staff; any staff, for the patient,
    up to the newest message the patient may see (staff who read an internal note after it
    must not tell the patient the note exists)."""
    reads = ReadPosition.objects.filter(thread=thread)
    if user.role == Role.PATIENT:
        staff_read = max(
            reads.exclude(user__role=Role.PATIENT).values_list("seq", flat=True), default=0
        )
        return min(staff_read, thread.last_public_seq)
    return max(reads.filter(user__role=Role.PATIENT).values_list("seq", flat=True), default=0)


def _with_my_read(threads: QuerySet[Thread], user: User) -> QuerySet[Thread]:
    mine = ReadPosition.objects.filter(thread=OuterRef("pk"), user=user).values("seq")[:1]
    return threads.annotate(my_read=Coalesce(Subquery(mine, output_field=IntegerField()), Value(0)))


INBOX_VIEWS = ("all", "unassigned", "mine", "urgent", "mentions", "closed")


def inbox(
    *,
    user: User,
    view: str = "all",
    category: str = "",
    status: str = "",
    query: str = "",
) -> QuerySet[Thread]:
    """The staff inbox: open work first by default (closed threads under their own view).
    Read positions are added per page (`mark_my_reads`), not computed for every thread."""
    threads = threads_visible_to(user)
    if view == "closed":
        threads = threads.filter(status=Thread.Status.CLOSED)
    elif status:
        threads = threads.filter(status=status)
    else:
        threads = threads.exclude(status=Thread.Status.CLOSED)
    if view == "unassigned":
        threads = threads.filter(assignee__isnull=True, team__isnull=True)
    elif view == "mine":
        threads = threads.filter(Q(assignee=user) | Q(team__members=user)).distinct()
    elif view == "urgent":
        threads = threads.filter(urgent=True)
    elif view == "mentions":
        threads = threads.filter(
            Exists(Message.objects.filter(thread=OuterRef("pk"), mentions=user))
        )
    if category:
        threads = threads.filter(category=category)
    threads = search.filter_threads(threads, query)
    # The list shows names only: skip decrypting every patient's contact details.
    threads = threads.defer("patient__phone", "patient__email", "patient__address")
    return threads.order_by("-urgent", "-last_message_at")


def inbox_counts(*, user: User) -> dict[str, int]:
    """How many conversations of the inbox are open, and how many of those nobody has (no
    assignee and no team), in one query."""
    return (
        threads_visible_to(user)
        .exclude(status=Thread.Status.CLOSED)
        .aggregate(
            open=Count("pk", distinct=True),
            unassigned=Count(
                "pk", distinct=True, filter=Q(assignee__isnull=True, team__isnull=True)
            ),
        )
    )


def mark_my_reads(*, user: User, threads: list[Thread]) -> list[Thread]:
    """Set `my_read` (how far this user has read) on each thread of a page."""
    seqs = dict(
        ReadPosition.objects.filter(user=user, thread__in=threads).values_list("thread_id", "seq")
    )
    for thread in threads:
        # The attribute `_with_my_read` annotates in SQL, set here per page instead.
        thread.my_read = seqs.get(thread.pk, 0)  # type: ignore[attr-defined]
    return threads


def _unseen_reply() -> Exists:
    """A reply the patient has not read, on threads annotated with `my_read`. Internal notes
    never count: a patient must not learn that staff wrote one."""
    return Exists(
        Message.objects.filter(
            thread=OuterRef("pk"), internal=False, seq__gt=OuterRef("my_read")
        ).exclude(author_kind=Message.Author.PATIENT)
    )


def unread_threads(*, user: User) -> int:
    """Patients: threads with a reply they have not read. Staff: open threads with a patient
    message they have not read."""
    if user.role == Role.PATIENT:
        return _with_my_read(threads_visible_to(user), user).filter(_unseen_reply()).count()
    # A left join on this user's read positions, not a subquery per thread.
    return (
        threads_visible_to(user)
        .exclude(status=Thread.Status.CLOSED)
        .annotate(mine=FilteredRelation("reads", condition=Q(reads__user=user)))
        .filter(
            Q(mine__isnull=True, last_patient_seq__gt=0) | Q(last_patient_seq__gt=F("mine__seq"))
        )
        .count()
    )


def patient_threads(*, user: User) -> QuerySet[Thread]:
    """A patient's threads with `unread` (a reply they have not read), newest first. Both
    ignore internal notes: `last_message_at` moves only for messages the patient may see."""
    return (
        _with_my_read(threads_visible_to(user), user)
        .annotate(unread=_unseen_reply())
        .order_by("-last_message_at")
    )


def access_attachment(*, user: User, attachment_id: int) -> Attachment:
    attachment = get_object_or_404(
        Attachment.objects.select_related("message__thread"), pk=attachment_id
    )
    if user.role == Role.PATIENT and attachment.message.internal:
        raise_not_found()
    access_thread(user=user, thread_id=attachment.message.thread_id)
    return attachment


def access_media_fetch(*, user: User, fetch_id: int) -> MediaFetch:
    """A texted picture's fetch, for staff who may see its thread (patients never act on it)."""
    fetch = get_object_or_404(MediaFetch.objects.select_related("message__thread"), pk=fetch_id)
    if user.role == Role.PATIENT:
        raise_not_found()
    access_thread(user=user, thread_id=fetch.message.thread_id)
    return fetch


def raise_not_found():
    from django.http import Http404

    raise Http404


def saved_replies(*, user: User) -> QuerySet[SavedReply]:
    if user.role == Role.PATIENT or not user.practice_id:
        return SavedReply.objects.none()
    return SavedReply.objects.filter(practice_id=user.practice_id)


def assignable_staff(*, user: User) -> QuerySet[User]:
    if not user.practice_id:
        return User.objects.none()  # not "everyone else without a practice"
    return (
        User.objects.filter(practice_id=user.practice_id, is_active=True)
        .exclude(role=Role.PATIENT)
        .order_by("full_name")
    )


def teams(*, user: User) -> QuerySet[Team]:
    if user.practice_id is None:
        return Team.objects.none()
    return Team.objects.filter(practice_id=user.practice_id)


# --- Practice figures (read by analytics) ------------------------------------------------


@dataclass(frozen=True)
class ThreadFact:
    """A patient-started thread as the inbox figures see it: no patient, no text."""

    category: str
    created_at: datetime
    first_reply_at: datetime | None
    first_replier: str  # the staff member's name, "" before any reply
    closed_at: datetime | None


def _admin_practice(user: User) -> int | None:
    if not user.is_authenticated or user.role != Role.PRACTICE_ADMIN:
        return None
    return user.practice_id


def thread_facts(*, user: User, start: datetime, end: datetime) -> list[ThreadFact]:
    """Threads patients started in [start, end) with their first staff reply (not an internal
    note, not an automatic one) and when they were closed: two queries."""
    practice_id = _admin_practice(user)
    if practice_id is None:
        return []
    first_reply = Message.objects.filter(
        thread=OuterRef("pk"), author_kind=Message.Author.STAFF, internal=False
    ).order_by("created_at", "seq")
    rows = list(
        Thread.objects.filter(practice_id=practice_id, created_at__gte=start, created_at__lt=end)
        .exclude(origin="staff")
        .order_by()
        .annotate(
            first_reply_at=Subquery(first_reply.values("created_at")[:1]),
            first_replier_id=Subquery(first_reply.values("author_id")[:1]),
        )
        .values_list("category", "created_at", "first_reply_at", "first_replier_id", "closed_at")
    )
    names = {
        staff.pk: staff.full_name
        for staff in User.objects.filter(pk__in={row[3] for row in rows if row[3]})
    }
    return [
        ThreadFact(category, created, replied, names.get(replier_id, ""), closed)
        for category, created, replied, replier_id, closed in rows
    ]


def category_labels() -> dict[str, str]:
    return {value: str(label) for value, label in Category.choices}


def patient_messages_after_hours(*, user: User, start: datetime, end: datetime) -> tuple[int, int]:
    """(messages the practice's patients wrote in [start, end), how many of them outside the
    practice's business hours): one query."""
    from messaging.services import is_open  # services read selectors: import late

    practice_id = _admin_practice(user)
    if practice_id is None or user.practice is None:
        return 0, 0
    times = list(
        Message.objects.filter(
            thread__practice_id=practice_id,
            author_kind=Message.Author.PATIENT,
            created_at__gte=start,
            created_at__lt=end,
        )
        .order_by()
        .values_list("created_at", flat=True)
    )
    return len(times), sum(1 for at in times if not is_open(user.practice, at))
