from django import template
from django.urls import reverse
from django.utils.http import urlencode

register = template.Library()


@register.simple_tag
def slot_url(slot, practice, appointment_type, zone) -> str:
    query = urlencode(
        {
            "type": appointment_type.slug,
            "provider": slot.provider.slug,
            "start": slot.start.isoformat(),
            "tz": str(zone),
        }
    )
    return f"{reverse('scheduling:book-details', args=[practice.slug])}?{query}"


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    """The current query string with some parameters changed (for filters and paging)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        params[key] = value
    return "?" + params.urlencode()
