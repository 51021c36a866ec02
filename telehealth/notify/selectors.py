from django.db.models import Q, QuerySet

from telehealth.accounts.models import Patient, Role, User
from telehealth.notify.models import InboundMessage


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
