"""The practice's figures, read through each app's selectors: counts, rates and times only,
never a patient. Every function here runs a fixed number of queries whatever the data."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils.formats import date_format
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from analytics import charts, senders
from analytics.stats import median, percentile, share
from billing.rules import monitoring_rules_on
from feedback import selectors as feedback
from messaging import selectors as messaging
from rpm import selectors as rpm
from scheduling import selectors as scheduling
from telehealth.accounts.models import User
from telehealth.notify import selectors as notify
from visits import selectors as visits

REMINDER = "appointment.reminder"
SENT = ("sent", "delivered")


@dataclass(frozen=True)
class Filters:
    first_day: date
    last_day: date
    start: datetime  # the first day's local midnight
    end: datetime  # the local midnight after the last day
    provider_id: int | None = None
    provider_user_id: int | None = None
    modality: str = ""


@dataclass
class Table:
    key: str  # names the CSV download
    title: str
    headers: list[str]
    rows: list[list[str]]
    chart: SafeString | None = None


@dataclass
class Tile:
    label: str
    value: str
    note: str = ""


@dataclass
class Section:
    key: str
    title: str
    tiles: list[Tile] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    note: str = ""


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _hours(seconds: list[float]) -> tuple[str, str]:
    hours = [s / 3600 for s in seconds]
    return _num(median(hours)), _num(percentile(hours, 0.9))


def _in(seconds: float | None, unit: int) -> str:
    """A time the database computed in seconds, in minutes (unit 60) or hours (3600)."""
    return _num(None if seconds is None else seconds / unit)


def _minutes(median_s: float | None, p90_s: float | None) -> tuple[str, str]:
    return _in(median_s, 60), _in(p90_s, 60)


def _week_of(moment: datetime, zone) -> date:
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday())


# --- Appointments --------------------------------------------------------------------------


def _zone(user: User):
    assert user.practice is not None  # noqa: S101 - the views admit staff of a practice only
    return user.practice.zone


def _no_show_rate(counts: scheduling.AppointmentCounts) -> float | None:
    return share(counts.no_show, counts.completed + counts.no_show)


def appointments(*, user: User, filters: Filters) -> Section:
    zone = _zone(user)
    reminders_on = notify.first_sent_of(user=user, template=REMINDER)
    figures = scheduling.appointment_figures(
        user=user,
        start=filters.start,
        end=filters.end,
        split=reminders_on,
        provider_id=filters.provider_id,
        modality=filters.modality,
    ) or scheduling.AppointmentFigures(
        scheduling.NO_APPOINTMENTS,
        None,
        scheduling.NO_APPOINTMENTS,
        scheduling.NO_APPOINTMENTS,
        {},
        {},
        {},
    )
    available = scheduling.available_minutes(
        user=user,
        first_day=filters.first_day,
        last_day=filters.last_day,
        provider_id=filters.provider_id,
        modality=filters.modality,
    )
    names = dict(scheduling.practice_providers(user=user).values_list("pk", "display_name"))
    total = figures.total
    no_shows, completed = total.no_show, total.completed

    section = Section("appointments", _("Appointments"))
    section.tiles = [
        Tile(_("Booked"), f"{total.booked:,}", _("starting in the period")),
        Tile(_("Completed"), f"{completed:,}"),
        Tile(_("Cancelled"), f"{total.cancelled:,}"),
        Tile(
            _("No-show rate"),
            _pct(_no_show_rate(total)),
            _("%(n)s no-shows of %(m)s due") % {"n": no_shows, "m": no_shows + completed},
        ),
        Tile(
            _("Median lead time"),
            _("%s days") % _num(figures.lead_days_median),
            _("booking to visit"),
        ),
        Tile(
            _("Utilisation"),
            _pct(share(int(total.held_minutes), int(sum(available.values())))),
            _("booked of available hours"),
        ),
        Tile(
            _("Booked by patients"),
            _pct(share(total.self_booked, total.booked)),
            _("online or by text"),
        ),
    ]
    if reminders_on is None:
        section.note = _("No reminder has been sent yet, so there is no before and after.")
    else:
        section.tables.append(
            Table(
                "reminders-effect",
                _("No-show rate before and after reminders began (%(day)s)")
                % {"day": date_format(reminders_on.astimezone(zone).date())},
                [_("Appointments"), _("Due"), _("No-shows"), _("No-show rate")],
                [
                    [
                        label,
                        str(counts.completed + counts.no_show),
                        str(counts.no_show),
                        _pct(_no_show_rate(counts)),
                    ]
                    for label, counts in (
                        (_("Before"), figures.before),
                        (_("After"), figures.after),
                    )
                ],
            )
        )

    weeks = figures.by_week
    week_rows = []
    for week in sorted(weeks):
        counts = weeks[week]
        week_rows.append(
            [
                date_format(week, "SHORT_DATE_FORMAT"),
                str(counts.booked),
                str(counts.completed),
                str(counts.cancelled),
                str(counts.no_show),
                _pct(_no_show_rate(counts)),
            ]
        )
    section.tables.append(
        Table(
            "appointments-by-week",
            _("Appointments by week"),
            [
                _("Week of"),
                _("Booked"),
                _("Completed"),
                _("Cancelled"),
                _("No-shows"),
                _("No-show rate"),
            ],
            week_rows,
            charts.column_chart(
                columns=[(date_format(w, "M j"), weeks[w].booked) for w in sorted(weeks)],
                title=_("Appointments booked per week"),
                desc=_("One column per week; the table below gives each week's numbers."),
            ),
        )
    )

    by_provider = figures.by_provider
    provider_rows = []
    for pk in sorted(set(by_provider) | set(available), key=lambda pk: names.get(pk, "")):
        counts = by_provider.get(pk, scheduling.NO_APPOINTMENTS)
        provider_rows.append(
            [
                names.get(pk, "?"),
                str(counts.booked),
                str(counts.completed),
                _pct(_no_show_rate(counts)),
                _num(available.get(pk, 0) / 60),
                _pct(share(int(counts.held_minutes), int(available.get(pk, 0)))),
            ]
        )
    section.tables.append(
        Table(
            "appointments-by-provider",
            _("By provider"),
            [
                _("Provider"),
                _("Booked"),
                _("Completed"),
                _("No-show rate"),
                _("Available hours"),
                _("Utilisation"),
            ],
            provider_rows,
        )
    )
    via = Counter(figures.by_via)
    via_labels = {
        "online": _("Online, by the patient"),
        "sms": _("By text, by the patient"),
        "waitlist": _("Waitlist offer taken"),
        "staff": _("By staff"),
    }
    section.tables.append(
        Table(
            "booked-via",
            _("How appointments were booked"),
            [_("Booked"), _("Appointments"), _("Share")],
            [[via_labels[k], str(via[k]), _pct(share(via[k], total.booked))] for k in via_labels],
            charts.bar_chart(
                bars=[(via_labels[k], via[k]) for k in via_labels],
                title=_("How appointments were booked"),
                desc=_("Appointments by who booked them; the table below has the numbers."),
            ),
        )
    )
    return section


# --- Reminders and messages ----------------------------------------------------------------


def messages(*, user: User, filters: Filters) -> Section:
    counts = notify.outbound_counts(user=user, start=filters.start, end=filters.end)
    reasons = notify.failure_reasons(user=user, start=filters.start, end=filters.end)
    opted_out = notify.opt_outs(user=user, start=filters.start, end=filters.end)
    confirmed = notify.inbound_handled(
        user=user, start=filters.start, end=filters.end, handled_by="scheduling.confirm"
    )
    batch = notify.largest_sms_batch(
        user=user, start=filters.start, end=filters.end, template=REMINDER
    )
    sms_keys = {(c.template, c.language) for c in counts if c.channel == "sms"} | {(REMINDER, "en")}
    sizes = notify.sms_sizes(user=user, keys=sms_keys)

    by_channel: dict[str, Counter] = defaultdict(Counter)
    for c in counts:
        by_channel[c.channel][c.status] += c.count
    section = Section("messages", _("Reminders and messages"))
    total = sum(c.count for c in counts)
    sent = sum(c.count for c in counts if c.status in SENT)
    delivered = sum(c.count for c in counts if c.status == "delivered")
    failed = sum(c.count for c in counts if c.status == "failed")
    section.tiles = [
        Tile(_("Messages due"), f"{total:,}", _("texts and emails")),
        Tile(_("Sent"), f"{sent:,}"),
        Tile(_("Delivered"), f"{delivered:,}", _("%s of sent") % _pct(share(delivered, sent))),
        Tile(_("Failed"), f"{failed:,}"),
        Tile(_("Opt-outs"), f"{opted_out:,}", _("numbers that texted STOP")),
    ]
    channel_labels = {"sms": _("Text"), "email": _("Email")}
    reminded = {
        channel: sum(
            c.count
            for c in counts
            if c.channel == channel and c.template == REMINDER and c.status in SENT
        )
        for channel in channel_labels
    }
    section.tables.append(
        Table(
            "messages-by-channel",
            _("Messages by channel"),
            [
                _("Channel"),
                _("Sent"),
                _("Delivered"),
                _("Failed"),
                _("Not sent (opted out)"),
                _("Reminders sent"),
                _("Confirmed by reply"),
            ],
            [
                [
                    label,
                    str(sum(by_channel[ch][s] for s in SENT)),
                    str(by_channel[ch]["delivered"]),
                    str(by_channel[ch]["failed"]),
                    str(by_channel[ch]["suppressed"]),
                    str(reminded[ch]),
                    _pct(share(confirmed, reminded[ch])) if ch == "sms" else "—",
                ]
                for ch, label in channel_labels.items()
            ],
        )
    )
    section.tables.append(
        Table(
            "failure-reasons",
            _("Failures by reason"),
            [_("Reason"), _("Messages")],
            [[reason or _("No reason given"), str(n)] for reason, n in reasons],
        )
    )

    price = Decimal(settings.SMS_PRICE_PER_SEGMENT)
    segment_rows: list[list[str]] = []
    by_encoding: Counter[str] = Counter()
    for (template, language), size in sorted(sizes.items()):
        n = sum(
            c.count
            for c in counts
            if c.channel == "sms"
            and c.template == template
            and c.language == language
            and c.status in SENT
        )
        if not n:
            continue
        by_encoding[size.encoding] += n * size.segments
        segment_rows.append(
            [
                template,
                language,
                size.encoding,
                str(size.segments),
                str(n),
                str(n * size.segments),
                f"{price * n * size.segments:.2f}",
            ]
        )
    segments = sum(by_encoding.values())
    section.tiles.append(
        Tile(
            _("Text segments"),
            f"{segments:,}",
            _("projected cost $%(cost)s") % {"cost": f"{price * segments:,.2f}"},
        )
    )
    section.tables.append(
        Table(
            "sms-segments",
            _("Text segments by template (current wording, typical values)"),
            [
                _("Template"),
                _("Language"),
                _("Encoding"),
                _("Segments each"),
                _("Texts sent"),
                _("Segments"),
                _("Projected cost ($)"),
            ],
            segment_rows,
            charts.bar_chart(
                bars=[(encoding, n) for encoding, n in sorted(by_encoding.items())],
                title=_("Text segments by encoding"),
                desc=_("GSM-7 texts fit 160 characters (153 per part), UCS-2 texts 70 (67)."),
            )
            if by_encoding
            else None,
        )
    )
    reminder_size = sizes.get((REMINDER, "en"))
    batch_segments = batch * (reminder_size.segments if reminder_size else 1)
    sender = settings.SMS_SENDER_TYPE
    section.tables.append(
        Table(
            "drain-time",
            _("Largest reminder batch: %(n)s texts, %(s)s segments, due in one hour")
            % {"n": batch, "s": batch_segments},
            [
                _("Sender"),
                _("Segments per second"),
                _("Drain time (minutes)"),
                _("Checked"),
                _("Source"),
            ],
            [
                [
                    rate.label + (" ✓" if rate.key == sender else ""),
                    _num(rate.segments_per_second, 2),
                    _num(senders.drain_seconds(segments=batch_segments, sender=rate.key) / 60),
                    rate.checked.isoformat(),
                    rate.source,
                ]
                for rate in senders.SENDER_RATES
            ],
        )
    )
    return section


# --- Inbox ---------------------------------------------------------------------------------


def inbox(*, user: User, filters: Filters) -> Section:
    facts = messaging.thread_facts(user=user, start=filters.start, end=filters.end)
    written, after_hours = messaging.patient_messages_after_hours(
        user=user, start=filters.start, end=filters.end
    )
    first = [
        (f, (f.first_reply_at - f.created_at).total_seconds()) for f in facts if f.first_reply_at
    ]
    resolved = [(f, (f.closed_at - f.created_at).total_seconds()) for f in facts if f.closed_at]
    section = Section("inbox", _("Inbox"))
    first_median, first_p90 = _hours([s for _f, s in first])
    resolved_median, resolved_p90 = _hours([s for _f, s in resolved])
    section.tiles = [
        Tile(_("Conversations started"), f"{len(facts):,}", _("by patients")),
        Tile(
            _("First response, median"),
            _("%s h") % first_median,
            _("90th percentile %s h") % first_p90,
        ),
        Tile(
            _("Resolution, median"),
            _("%s h") % resolved_median,
            _("90th percentile %s h") % resolved_p90,
        ),
        Tile(
            _("Written after hours"),
            _pct(share(after_hours, written)),
            _("%(n)s of %(m)s patient messages") % {"n": after_hours, "m": written},
        ),
    ]

    def grouped(key) -> list[list[str]]:
        firsts, closes = defaultdict(list), defaultdict(list)
        for fact, seconds in first:
            firsts[key(fact)].append(seconds)
        for fact, seconds in resolved:
            closes[key(fact)].append(seconds)
        return [
            [
                name,
                str(len(firsts[name])),
                *_hours(firsts[name]),
                str(len(closes[name])),
                *_hours(closes[name]),
            ]
            for name in sorted(set(firsts) | set(closes))
        ]

    headers = [
        _("Answered"),
        _("First response median (h)"),
        _("First response p90 (h)"),
        _("Closed"),
        _("Resolution median (h)"),
        _("Resolution p90 (h)"),
    ]
    categories = messaging.category_labels()
    by_member = grouped(lambda f: f.first_replier or _("Not answered"))
    section.tables.append(
        Table(
            "inbox-by-member",
            _("By team member (who answered first)"),
            [_("Team member"), *headers],
            by_member,
            charts.bar_chart(
                bars=[
                    (row[0], float(row[2].replace(",", "")) if row[2] != "—" else 0)
                    for row in by_member
                ],
                title=_("Median first response by team member, hours"),
                desc=_("Hours from a patient's first message to the first answer."),
                unit=" h",
            )
            if by_member
            else None,
        )
    )
    section.tables.append(
        Table(
            "inbox-by-category",
            _("By category"),
            [_("Category"), *headers],
            [
                [str(categories.get(row[0], row[0])), *row[1:]]
                for row in grouped(lambda f: f.category)
            ],
        )
    )
    return section


# --- Visits --------------------------------------------------------------------------------


def visits_section(*, user: User, filters: Filters) -> Section:
    buckets = [
        (_("Under 5 min"), 0, 5),
        (_("5-10 min"), 5, 10),
        (_("10-15 min"), 10, 15),
        (_("15-30 min"), 15, 30),
        (_("30 min or more"), 30, 10**9),
    ]
    figures = visits.visit_figures(
        user=user,
        start=filters.start,
        end=filters.end,
        provider_id=filters.provider_id,
        modality=filters.modality,
        wait_buckets=[(low, high) for _label, low, high in buckets],
    ) or visits.VisitFigures(0, 0, None, None, None, None, 0, 0, 0, [0] * len(buckets))
    wait_median, wait_p90 = _minutes(figures.wait_median, figures.wait_p90)
    length_median, length_p90 = _minutes(figures.length_median, figures.length_p90)
    section = Section("visits", _("Visits"))
    section.tiles = [
        Tile(_("Visits ended"), f"{figures.ended:,}"),
        Tile(_("Wait, median"), _("%s min") % wait_median, _("90th percentile %s min") % wait_p90),
        Tile(
            _("Length, median"),
            _("%s min") % length_median,
            _("90th percentile %s min") % length_p90,
        ),
        Tile(
            _("Fell back to audio"),
            _pct(share(figures.video_audio_only, figures.video)),
            _("%(n)s of %(m)s video visits") % {"n": figures.video_audio_only, "m": figures.video},
        ),
        Tile(
            _("Patient reconnected"),
            _pct(share(figures.reconnected, figures.ended)),
            _("%(n)s visits") % {"n": figures.reconnected},
        ),
    ]
    counts = [
        (label, n) for (label, _low, _high), n in zip(buckets, figures.waits_by_bucket, strict=True)
    ]
    section.tables.append(
        Table(
            "waiting-room",
            _("Time in the waiting room"),
            [_("Wait"), _("Visits"), _("Share")],
            [[label, str(n), _pct(share(n, figures.waited))] for label, n in counts],
            charts.bar_chart(
                bars=counts,
                title=_("Visits by time in the waiting room"),
                desc=_("From the patient's arrival in the waiting room to the start of the visit."),
            ),
        )
    )
    return section


# --- Remote monitoring ---------------------------------------------------------------------


def monitoring(*, user: User, filters: Filters, today: date) -> Section:
    clinician = filters.provider_user_id
    enrolled = rpm.enrolled_count(user=user, clinician_id=clinician)
    days = rpm.reading_day_counts(
        user=user, first=filters.first_day, last=filters.last_day, clinician_id=clinician
    )
    month_days = rpm.reading_day_counts(
        user=user, first=today.replace(day=1), last=today, clinician_id=clinician
    )
    alerts = rpm.alert_facts(
        user=user, start=filters.start, end=filters.end, clinician_id=clinician
    )
    period = (filters.last_day - filters.first_day).days + 1
    section = Section("monitoring", _("Remote monitoring"))
    acknowledged = [(ack - opened).total_seconds() for _s, opened, ack in alerts if ack]
    ack_median, ack_p90 = _hours(acknowledged)
    section.tiles = [
        Tile(_("Patients enrolled"), f"{enrolled:,}"),
        Tile(
            _("Adherence"),
            _pct(share(sum(days.values()), len(days) * period)),
            _("days with readings, of %(d)s days") % {"d": period},
        ),
        Tile(
            _("Alerts"),
            f"{len(alerts):,}",
            _("%s not acknowledged") % (len(alerts) - len(acknowledged)),
        ),
        Tile(_("Time to acknowledge"), _("%s h") % ack_median, _("90th percentile %s h") % ack_p90),
    ]
    bands = [
        (_("No readings"), 0, 0),
        (_("1-7 days"), 1, 7),
        (_("8-15 days"), 8, 15),
        (_("16 days or more"), 16, 10**6),
    ]
    band_counts = [
        (label, sum(1 for n in days.values() if low <= n <= high)) for label, low, high in bands
    ]
    section.tables.append(
        Table(
            "rpm-adherence",
            _("Enrolled patients by days with readings in the period"),
            [_("Days with readings"), _("Patients")],
            [[label, str(n)] for label, n in band_counts],
            charts.bar_chart(
                bars=band_counts,
                title=_("Patients by days with readings"),
                desc=_("How many enrolled patients sent readings on how many days of the period."),
            ),
        )
    )
    severities = Counter(severity for severity, _o, _a in alerts)
    section.tables.append(
        Table(
            "rpm-alerts",
            _("Alerts by severity"),
            [_("Severity"), _("Alerts"), _("Acknowledge median (h)"), _("Acknowledge p90 (h)")],
            [
                [
                    str(label),
                    str(severities[key]),
                    *_hours([(a - o).total_seconds() for s, o, a in alerts if s == key and a]),
                ]
                for key, label in ((("critical"), _("Critical")), ("warning", _("Warning")))
            ],
        )
    )
    rules = monitoring_rules_on(today)
    section.tables.append(
        Table(
            "rpm-billing",
            # Calendar-month adherence against the code's day counts; billing counts each
            # patient's own 30-day periods (billing/monitoring.py), so these are a guide.
            _("Reading days this calendar month against the device-supply codes (%(rules)s)")
            % {"rules": rules.source},
            [_("Code"), _("Readings needed"), _("Patients meeting it")],
            [
                [
                    code.code,
                    _("%(low)s-%(high)s days") % {"low": code.min_days, "high": code.max_days},
                    str(sum(1 for n in month_days.values() if code.min_days <= n <= code.max_days)),
                ]
                for code in rules.device_supply
            ],
        )
    )
    return section


def feedback_section(*, user: User, filters: Filters) -> Section:
    facts = feedback.survey_facts(
        user=user,
        start=filters.start,
        end=filters.end,
        provider_id=filters.provider_id,
        modality=filters.modality,
    )
    answered = [f for f in facts if f.answered]

    def mean(values: list[int | None]) -> float | None:
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if known else None

    section = Section("feedback", _("Patient feedback"))
    section.tiles = [
        Tile(_("Surveys sent"), f"{len(facts):,}"),
        Tile(
            _("Response rate"),
            _pct(share(len(answered), len(facts))),
            _("%(n)s answered") % {"n": len(answered)},
        ),
        Tile(_("Satisfaction"), _num(mean([f.satisfaction for f in answered])), _("of 5")),
        Tile(_("Ease of joining"), _num(mean([f.ease for f in answered])), _("of 5")),
        Tile(_("Review requests"), f"{sum(1 for f in facts if f.review_requested):,}"),
    ]
    satisfaction = Counter(f.satisfaction for f in answered)
    ease = Counter(f.ease for f in answered)
    scores = [5, 4, 3, 2, 1]
    section.tables.append(
        Table(
            "feedback-ratings",
            _("Answers by rating"),
            [_("Rating"), _("Satisfaction"), _("Ease of joining")],
            [[str(n), str(satisfaction[n]), str(ease[n])] for n in scores],
            charts.bar_chart(
                bars=[(str(n), satisfaction[n]) for n in scores],
                title=_("Satisfaction ratings"),
                desc=_("How many respondents gave each satisfaction rating, 5 to 1."),
            ),
        )
    )
    by_provider: dict[str, list] = defaultdict(list)
    for fact in facts:
        by_provider[fact.provider_name or _("No provider")].append(fact)
    rows = []
    for name in sorted(by_provider):
        sent = by_provider[name]
        done = [f for f in sent if f.answered]
        rows.append(
            [
                name,
                str(len(sent)),
                _pct(share(len(done), len(sent))),
                _num(mean([f.satisfaction for f in done])),
                _num(mean([f.ease for f in done])),
            ]
        )
    section.tables.append(
        Table(
            "feedback-providers",
            _("Feedback by provider"),
            [_("Provider"), _("Surveys"), _("Response rate"), _("Satisfaction"), _("Ease")],
            rows,
        )
    )
    return section


SECTIONS = {
    "appointments": appointments,
    "messages": messages,
    "inbox": inbox,
    "visits": visits_section,
    "monitoring": monitoring,
    "feedback": feedback_section,
}


def section(*, user: User, filters: Filters, key: str, today: date) -> Section:
    if key == "monitoring":
        return monitoring(user=user, filters=filters, today=today)
    return SECTIONS[key](user=user, filters=filters)  # type: ignore[operator]


def dashboard(*, user: User, filters: Filters, today: date) -> list[Section]:
    return [section(user=user, filters=filters, key=key, today=today) for key in SECTIONS]
