"""Filters that show stored identifiers the way people read them (see accounts.display):
`{{ patient.state|state_name }}`, `{{ zone|zone_label }}` or `{{ zone|zone_label:moment }}`
(the offset at that moment rather than now), `{{ patient.phone|phone }}`."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django import template

from telehealth.accounts import display

register = template.Library()


@register.filter
def state_name(code: str | None) -> str:
    return display.state_name(code or "")


@register.filter
def zone_label(zone: ZoneInfo | str | None, at: datetime | None = None) -> str:
    if not zone:
        return ""
    name = zone.key if isinstance(zone, ZoneInfo) else str(zone)
    return display.zone_label(name, at=at if isinstance(at, datetime) else None)


@register.filter
def phone(value: str | None, region: str | None = None) -> str:
    """{{ number|phone }}, or {{ practice.phone|phone:practice.country }} for a number shown
    in its practice's national format."""
    return display.format_phone(value or "", region=region or display.HOME_REGION)
