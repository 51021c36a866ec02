"""The main navigation, built in Python: every page a signed-in person opens draws it, and as a
template it cost more than most pages' own content (an include, a dozen `{% url %}`s and
`{% translate %}`s, each an `if` per role). The links of a (role, practice or not, language)
are built once per process; a request only marks the current page."""

from collections.abc import Callable
from functools import cache

from django import template
from django.templatetags.static import static
from django.urls import ResolverMatch, reverse
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext, gettext_noop

from telehealth.accounts.models import Role

register = template.Library()

Current = Callable[[ResolverMatch], bool]


def _url_name(*names: str) -> Current:
    return lambda match: match.url_name in names


def _app(name: str) -> Current:
    return lambda match: match.app_name == name


def _view(name: str) -> Current:
    return lambda match: match.view_name == name


# (URL name, label, when it is the current page); labels are translated when a bar is built.
# Labels read inside the f-strings below, where makemessages would not find them.
MAIN, SETTINGS, ALL_SETTINGS = (
    gettext_noop("Main"),
    gettext_noop("Settings"),
    gettext_noop("All settings"),
)
HOME = ("home", gettext_noop("Home"), _url_name("home"))
SECURITY = ("accounts:security", gettext_noop("Security"), _url_name("security"))
INBOX = ("messaging:inbox", gettext_noop("Inbox"), _app("messaging"))
VISITS = ("visits:today", gettext_noop("Visits"), _url_name("today"))
SCHEDULE = ("scheduling:schedule", gettext_noop("Schedule"), _url_name("schedule"))
TEXTS = ("notify:unrouted", gettext_noop("Texts"), _url_name("unrouted"))
PATIENTS = ("accounts:patient-list", gettext_noop("Patients"), _url_name("patient-list"))
BILLING = ("billing:worklist", gettext_noop("Billing"), _app("billing"))
PATIENT_LINKS = (
    ("scheduling:mine", gettext_noop("Appointments"), _view("scheduling:mine")),
    ("messaging:mine", gettext_noop("Messages"), _app("messaging")),
    ("documents:mine", gettext_noop("Documents"), _app("documents")),
    ("visits:evisits", gettext_noop("E-visits"), _url_name("evisits", "evisit")),
    ("visits:groups-mine", gettext_noop("Groups"), _url_name("groups-mine")),
)
MONITORING = ("rpm:dashboard", gettext_noop("Monitoring"), _app("rpm"))
CALENDAR_FEED = (
    "scheduling:calendar-feed",
    gettext_noop("Calendar feed"),
    _url_name("calendar-feed"),
)
INTAKE = ("intake:manage", gettext_noop("Intake forms"), _app("intake"))
LIBRARY = ("documents:library", gettext_noop("Education library"), _view("documents:library"))
REVIEWS = (
    "accounts:break-glass-reviews",
    gettext_noop("Access reviews"),
    _url_name("break-glass-reviews"),
)

CURRENT = ' aria-current="page"'
Link = tuple[str, str, Current]  # (href, escaped label, when current)


@cache
def _bar(role: str, in_practice: bool, language: str) -> tuple[tuple[Link, ...], tuple, str]:
    """The links of one kind of user in one language (the language is active when called):
    the top-level links, the admin's settings menu (empty for others) and its script tag."""
    names: list[tuple[str, str, Current]] = [HOME]
    if role in (Role.CLINICIAN, Role.FRONT_DESK, Role.PRACTICE_ADMIN):
        if in_practice:
            names += [INBOX, VISITS]
        names.append(SCHEDULE)
        if role != Role.CLINICIAN:
            names.append(TEXTS)
        names.append(PATIENTS)
        if in_practice:
            names.append(BILLING)
    if role == Role.PATIENT:
        names += PATIENT_LINKS
    if role in (Role.CLINICIAN, Role.PRACTICE_ADMIN):
        names.append(MONITORING)
    if role == Role.CLINICIAN:
        names.append(CALENDAR_FEED)
    menu: list[tuple[str, str, Current]] = []
    if role == Role.PRACTICE_ADMIN:
        menu = ([INTAKE, LIBRARY] if in_practice else []) + [REVIEWS]
    links = tuple(_link(*name) for name in [*names, SECURITY])
    script = format_html('<script src="{}" defer></script>', static("js/nav.js")) if menu else ""
    return links, tuple(_link(*name) for name in menu), script


def _link(name: str, label: str, current: Current) -> Link:
    return reverse(name), conditional_escape(gettext(label)), current


def _items(links: tuple[Link, ...], match: ResolverMatch | None, indent: str) -> str:
    return "".join(
        f'{indent}<li><a href="{href}"'
        f"{CURRENT if match is not None and current(match) else ''}"
        f">{label}</a></li>\n"
        for href, label, current in links
    )


@register.simple_tag(takes_context=True)
def main_nav(context) -> SafeString:
    """The main navigation of the signed-in user (only the name and sign-out button while
    their second factor is pending)."""
    user, request = context["user"], context.get("request")
    match = getattr(request, "resolver_match", None)
    language = get_language()
    parts = [f'<nav class="nav" aria-label="{conditional_escape(gettext(MAIN))}">\n']
    if not context.get("mfa_pending"):
        links, menu, script = _bar(user.role, bool(user.practice_id), language)
        parts += ['  <ul class="nav__list">\n', _items(links[:-1], match, "    ")]
        if menu:
            # The menu is marked for its pages even where it does not list them.
            current = match is not None and any(
                page[2](match) for page in (INTAKE, LIBRARY, REVIEWS)
            )
            parts += [
                '    <li><details class="nav__menu" data-nav-menu'
                f"{' data-current' if current else ''}>\n",
                f"      <summary>{conditional_escape(gettext(SETTINGS))}</summary>\n",
                '      <ul class="nav__submenu">\n',
                f'          <li><a href="{reverse("home")}#settings">'
                f"{conditional_escape(gettext(ALL_SETTINGS))}</a></li>\n",
                _items(menu, match, "          "),
                "        </ul>\n      </details></li>\n",
            ]
        parts += [_items(links[-1:], match, "    "), "  </ul>\n"]
        if script:
            parts.append(f"  {script}\n")
    token = context.get("csrf_token")
    csrf = (
        format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
        if token and token != "NOTPROVIDED"
        else ""
    )
    parts.append(
        format_html(
            '  <div class="nav__user">\n'
            '    <span class="nav__name">{} <span class="badge">{}</span></span>\n'
            '    <form method="post" action="{}">{}<button type="submit" '
            'class="button button--quiet">{}</button></form>\n'
            "  </div>\n</nav>",
            user.full_name,
            user.get_role_display(),
            reverse("accounts:logout"),
            csrf,
            gettext("Sign out"),
        )
    )
    return mark_safe("".join(parts))  # noqa: S308  # every piece above is escaped
