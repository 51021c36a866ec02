"""Which practice a row belongs to, found from the models themselves.

The admin confines every choice list, raw-id lookup and list filter with these lookups, so a
model added later is scoped without anyone remembering to list it, and a model that cannot be
scoped stops the page instead of offering every practice's rows."""

from collections import deque
from functools import cache
from typing import TypeVar, cast

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet

from telehealth.accounts.models import Practice

M = TypeVar("M", bound=Model)


@cache
def practice_path(model: type[Model]) -> str:
    """The lookup from `model` to its practice, e.g. "provider__practice".

    Follows forward foreign keys and one-to-one fields breadth first, so the shortest path
    wins (an appointment's own `practice` rather than `provider__practice`). Reverse relations
    are not followed: they fan out, and a row reached through one belongs to no single
    practice. A nullable step (a patient's login has no practice) leaves such rows out of
    every practice, which hides them rather than sharing them."""
    if model is Practice:
        return "pk"
    queue: deque[tuple[type[Model], str]] = deque([(model, "")])
    seen = {model}
    while queue:
        current, prefix = queue.popleft()
        for field in current._meta.get_fields():
            if not (field.concrete and (field.many_to_one or field.one_to_one)):
                continue
            target = cast(type[Model], field.related_model)  # resolved once apps are ready
            path = f"{prefix}{field.name}"
            if target is Practice:
                return path
            if target not in seen:
                seen.add(target)
                queue.append((target, f"{path}__"))
    raise ImproperlyConfigured(
        f"{model._meta.label} has no foreign-key path to a practice, so its rows cannot be "
        "confined to one practice. Give it one, or keep it out of practice admins' reach."
    )


def in_practice(queryset: QuerySet[M], practice_id: int | None) -> QuerySet[M]:
    """The rows of `queryset` that belong to the practice (none when there is no practice)."""
    if practice_id is None:
        return queryset.none()
    return queryset.filter(**{practice_path(queryset.model): practice_id})
