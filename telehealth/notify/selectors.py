from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import TruncHour

from telehealth.accounts.models import Patient, Role, User
from telehealth.notify import wording
from telehealth.notify.models import InboundMessage, OutboundMessage, PhoneOptOut
from telehealth.notify.services import practice_wording, wording_for


def unrouted_texts(*, user: User) -> QuerySet[InboundMessage]:
    """Inbound texts nothing answered, from numbers of this practice's patients (or from
    numbers no practice knows, which every front desk may see to follow up)."""
    if user.role not in (Role.FRONT_DESK, Role.PRACTICE_ADMIN) or user.practice_id is None:
        return InboundMessage.objects.none()
    return (
        InboundMessage.objects.filter(handled_by="unrouted", reviewed_at__isnull=True)
        .filter(
            # Theirs, or from a number that patients of several practices share.
            Q(practice_id=user.practice_id)
            | Q(
                practice__isnull=True,
                from_index__in=Patient.objects.filter(practice_id=user.practice_id).values(
                    "phone_index"
                ),
            )
        )
        .select_related("patient")
        .order_by("-received_at")
    )


# --- Practice figures (read by analytics) ------------------------------------------------
# Counts only: no body, no recipient. Practice-wide figures are an admin's.


def _admin_practice(user: User) -> int | None:
    if not user.is_authenticated or user.role != Role.PRACTICE_ADMIN:
        return None
    return user.practice_id


def _outbound(user: User, start: datetime, end: datetime) -> QuerySet[OutboundMessage]:
    practice_id = _admin_practice(user)
    if practice_id is None:
        return OutboundMessage.objects.none()
    return OutboundMessage.objects.filter(
        patient__practice_id=practice_id, send_at__gte=start, send_at__lt=end
    ).order_by()


@dataclass(frozen=True)
class OutboundCount:
    channel: str
    status: str
    template: str
    language: str
    count: int


def outbound_counts(*, user: User, start: datetime, end: datetime) -> list[OutboundCount]:
    """Messages to the practice's patients due in [start, end), counted by channel, status,
    template and the patient's language: one query."""
    rows = (
        _outbound(user, start, end)
        .values_list("channel", "status", "template", "patient__preferred_language")
        .annotate(count=Count("id"))
    )
    return [OutboundCount(*row) for row in rows]


def failure_reasons(*, user: User, start: datetime, end: datetime) -> list[tuple[str, int]]:
    """Failed messages by the provider's error text (most frequent first): one query."""
    rows = (
        _outbound(user, start, end)
        .filter(status=OutboundMessage.Status.FAILED)
        .values_list("last_error")
        .annotate(count=Count("id"))
        .order_by("-count", "last_error")
    )
    return [(reason, count) for reason, count in rows]


def largest_sms_batch(*, user: User, start: datetime, end: datetime, template: str) -> int:
    """The most texts of one template due in the same hour of the practice's clock (a
    half-hour zone's hours are not UTC's): the batch a sender drains."""
    zone = user.practice.zone if user.practice else None
    found = (
        _outbound(user, start, end)
        .filter(channel=OutboundMessage.Channel.SMS, template=template)
        .annotate(hour=TruncHour("send_at", tzinfo=zone))
        .values("hour")
        .annotate(count=Count("id"))
        .aggregate(largest=Max("count"))
    )
    return found["largest"] or 0


def first_sent_of(*, user: User, template: str) -> datetime | None:
    """When the practice first queued a message of this template (reminders switched on)."""
    practice_id = _admin_practice(user)
    if practice_id is None:
        return None
    # The first row in (template, created_at) index order: MIN() over the join would read
    # every message of the template.
    return (
        OutboundMessage.objects.filter(patient__practice_id=practice_id, template=template)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def opt_outs(*, user: User, start: datetime, end: datetime) -> int:
    """Phone numbers of the practice's patients that texted STOP in [start, end)."""
    practice_id = _admin_practice(user)
    if practice_id is None:
        return 0
    return PhoneOptOut.objects.filter(
        opted_out_at__gte=start,
        opted_out_at__lt=end,
        phone_index__in=Patient.objects.filter(practice_id=practice_id).values("phone_index"),
    ).count()


def inbound_handled(*, user: User, start: datetime, end: datetime, handled_by: str) -> int:
    """Texts from the practice's patients answered by one handler (e.g. "scheduling.confirm")."""
    practice_id = _admin_practice(user)
    if practice_id is None:
        return 0
    return InboundMessage.objects.filter(
        Q(practice_id=practice_id) | Q(practice__isnull=True, patient__practice_id=practice_id),
        handled_by=handled_by,
        received_at__gte=start,
        received_at__lt=end,
    ).count()


def sms_sizes(*, user: User, keys: set[tuple[str, str]]) -> dict[tuple[str, str], wording.SmsSize]:
    """The size of each (template, language) text as the practice words it now, filled with
    typical values: what carriers bill per message, without decrypting a single one sent."""
    if user.practice is None:
        return {}
    overrides = practice_wording(user.practice)
    sizes = {}
    for key, language in keys:
        try:
            _, body = wording_for(
                practice=user.practice,
                key=key,
                channel=wording.SMS,
                language=language,
                overrides=overrides,
            )
        except KeyError:
            continue
        sizes[(key, language)] = wording.sms_size(wording.render(body, wording.SAMPLE_CONTEXT))
    return sizes
