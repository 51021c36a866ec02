"""The booking page's slot grid as plain strings: each label formatted once in Python, in the
viewer's zone and the active language, instead of through template filters per slot (a week
of open times is hundreds of links; per-slot filters cost thousands of translation look-ups).
The strings are those the filters `date:"D j M"`, `date:"l j F"` and `time:"TIME_FORMAT"` give
inside `{% timezone zone %}`."""

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils import formats
from django.utils.html import escape
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from scheduling import selectors
from scheduling.models import AppointmentType
from scheduling.selectors import OfferedSlot, SlotOffer
from telehealth.accounts.models import Provider


@dataclass(frozen=True)
class SlotLink:
    url: str
    time: str
    label: str  # the accessible name: day, time and provider
    who: str


@dataclass(frozen=True)
class SlotDay:
    label: str
    count: int
    items: SafeString  # the day's <li> links, built here: see _items


@dataclass(frozen=True)
class SlotGrid:
    suggested: list[SlotLink]
    days: list[SlotDay]


def offered_grid(
    *,
    appointment_type: AppointmentType,
    providers: list[Provider],
    practice_slug: str,
    first_day: date,
    days: int,
    zone: ZoneInfo,
    preference: str,
    show_who: bool,
    bounds: tuple[datetime, datetime],
) -> SlotGrid:
    """slot_offer as slot_grid renders it."""
    offer = selectors.slot_offer(
        appointment_type=appointment_type,
        providers=providers,
        first_day=first_day,
        days=days,
        zone=zone,
        preference=preference,
        bounds=bounds,
    )
    return slot_grid(
        offer,
        practice_slug=practice_slug,
        type_slug=appointment_type.slug,
        zone=zone,
        show_who=show_who,
    )


def slot_grid(
    offer: SlotOffer, *, practice_slug: str, type_slug: str, zone: ZoneInfo, show_who: bool
) -> SlotGrid:
    """`show_who`: name the provider on each slot of the grid (suggestions always do)."""
    details = reverse("scheduling:book-details", args=[practice_slug])
    head = f"{details}?{urlencode({'type': type_slug})}"
    tail = "&" + urlencode({"tz": str(zone)})
    by_provider: dict[int, str] = {}
    times: dict[tuple, str] = {}

    def url(slot: OfferedSlot) -> str:
        provider = by_provider.get(slot.provider.pk)
        if provider is None:
            provider = by_provider[slot.provider.pk] = "&" + urlencode(
                {"provider": slot.provider.slug}
            )
        # What urlencode gives for an ISO time: only ':' and '+' need quoting.
        start = slot.start.isoformat().replace(":", "%3A").replace("+", "%2B")
        return f"{head}{provider}&start={start}{tail}"

    def time_label(local: datetime) -> str:
        # Times repeat from day to day: format each wall-clock time once.
        key = (local.hour, local.minute, local.utcoffset())
        label = times.get(key)
        if label is None:
            label = times[key] = formats.time_format(local, "TIME_FORMAT")
        return label

    suggested = []
    for slot in offer.suggested:
        local = slot.start.astimezone(zone)
        who = slot.provider.display_name
        time = f"{formats.date_format(local, 'D j M')} · {time_label(local)}"
        suggested.append(SlotLink(url(slot), time, "", who))
    days = []
    for day, day_slots in offer.by_day:
        day_label = formats.date_format(day, "l j F")
        links = []
        for slot in day_slots:
            time = time_label(slot.start.astimezone(zone))
            who = slot.provider.display_name
            links.append(
                SlotLink(url(slot), time, f"{day_label} {time}, {who}", who if show_who else "")
            )
        days.append(SlotDay(day_label, len(links), _items(links)))
    return SlotGrid(suggested, days)


def _items(links: list[SlotLink]) -> SafeString:
    """The markup _book_content.html had in its per-slot loop, character for character. Built
    here because a template loop costs tens of microseconds a slot, and a week is hundreds of
    slots; every value is escaped, each distinct one once."""
    escaped: dict[str, str] = {}

    def esc(value: str) -> str:
        found = escaped.get(value)
        if found is None:
            found = escaped[value] = escape(value)
        return found

    parts = []
    for link in links:
        who = f'<span class="slot__who">{esc(link.who)}</span>' if link.who else ""
        parts.append(
            f'\n            <li><a class="slot" href="{escape(link.url)}" '
            f'aria-label="{escape(link.label)}">\n'
            f'              <span class="slot__time">{esc(link.time)}</span>\n'
            f"              {who}\n"
            "            </a></li>\n          "
        )
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped
