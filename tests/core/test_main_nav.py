"""The main navigation (built in Python, see accounts/templatetags/nav.py): each role's links in
order, in both languages, with the current page marked."""

import re

import pytest
from django.template import engines
from django.test import RequestFactory
from django.urls import resolve, reverse
from django.utils import translation

from telehealth.accounts.models import Role


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


NAV = engines["django"].from_string("{% load nav %}{% main_nav %}")

HOME, SECURITY = ("/", "Home"), (reverse("accounts:security"), "Security")
EXPECTED = {
    Role.PATIENT: [
        HOME,
        (reverse("scheduling:mine"), "Appointments"),
        (reverse("messaging:mine"), "Messages"),
        (reverse("documents:mine"), "Documents"),
        (reverse("visits:evisits"), "E-visits"),
        (reverse("visits:groups-mine"), "Groups"),
        SECURITY,
    ],
    Role.CLINICIAN: [
        HOME,
        (reverse("messaging:inbox"), "Inbox"),
        (reverse("visits:today"), "Visits"),
        (reverse("scheduling:schedule"), "Schedule"),
        (reverse("accounts:patient-list"), "Patients"),
        (reverse("billing:worklist"), "Billing"),
        (reverse("rpm:dashboard"), "Monitoring"),
        (reverse("scheduling:calendar-feed"), "Calendar feed"),
        SECURITY,
    ],
    Role.FRONT_DESK: [
        HOME,
        (reverse("messaging:inbox"), "Inbox"),
        (reverse("visits:today"), "Visits"),
        (reverse("scheduling:schedule"), "Schedule"),
        (reverse("notify:unrouted"), "Texts"),
        (reverse("accounts:patient-list"), "Patients"),
        (reverse("billing:worklist"), "Billing"),
        SECURITY,
    ],
    Role.PRACTICE_ADMIN: [
        HOME,
        (reverse("messaging:inbox"), "Inbox"),
        (reverse("visits:today"), "Visits"),
        (reverse("scheduling:schedule"), "Schedule"),
        (reverse("notify:unrouted"), "Texts"),
        (reverse("accounts:patient-list"), "Patients"),
        (reverse("billing:worklist"), "Billing"),
        (reverse("rpm:dashboard"), "Monitoring"),
        ("/#settings", "All settings"),
        (reverse("intake:manage"), "Intake forms"),
        (reverse("documents:library"), "Education library"),
        (reverse("accounts:break-glass-reviews"), "Access reviews"),
        SECURITY,
    ],
}
LINK = re.compile(r'<a href="([^"]*)"( aria-current="page")?>([^<]*)</a>')


def render(user, path: str, *, mfa_pending: bool = False) -> str:
    request = RequestFactory().get(path)
    request.user, request.resolver_match = user, resolve(path)
    context = {"user": user, "request": request, "mfa_pending": mfa_pending, "csrf_token": "t"}
    return NAV.render(context)


@pytest.mark.parametrize("role", list(Role))
def test_each_role_sees_its_links_and_the_current_page_marked(world, role):
    user = world.user_for(role)
    for href, _label in EXPECTED[role]:
        if href.startswith("/#"):
            continue
        html = render(user, href)
        links = LINK.findall(html)
        assert [(h, label) for h, _, label in links] == EXPECTED[role]
        assert [h for h, current, _ in links if current] == [href]
        assert 'name="csrfmiddlewaretoken" value="t"' in html and user.full_name in html
    assert ("data-current" in render(user, reverse("intake:manage"))) == (
        role == Role.PRACTICE_ADMIN
    )


@pytest.mark.parametrize("role", list(Role))
def test_the_links_are_translated_and_no_link_shows_while_mfa_is_pending(world, role):
    user = world.user_for(role)
    with translation.override("es"):
        html = render(user, "/")
        assert 'aria-label="Principal"' in html and ">Inicio</a>" in html
        assert "Cerrar sesión" in html
        pending = render(user, "/", mfa_pending=True)
    assert LINK.findall(pending) == [] and "Cerrar sesión" in pending
    with translation.override("en"):
        assert ">Home</a>" in render(user, "/")


def test_staff_without_a_practice_see_no_practice_links(world):
    world.front_desk.practice_id = None
    hrefs = [h for h, _, _ in LINK.findall(render(world.front_desk, "/"))]
    for absent in ("messaging:inbox", "visits:today", "billing:worklist"):
        assert reverse(absent) not in hrefs
    assert reverse("scheduling:schedule") in hrefs
