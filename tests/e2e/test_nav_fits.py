"""The top navigation of every role fits one line on a 1280 px screen and stays usable on a
phone, where it scrolls sideways under the name and sign-out button."""

import pytest
from playwright.sync_api import expect

from telehealth.accounts.models import Role
from tests.asgi_server import AsgiServer
from tests.e2e.conftest import ARTIFACTS, PHONE
from tests.e2e.test_video_visit import signed_in_context

pytestmark = pytest.mark.django_db(transaction=True)

WIDE = {"width": 1280, "height": 800}
SHOTS = ARTIFACTS

# The centre line of every visible link and button of the main navigation.
CENTRES = """nav => [...nav.querySelectorAll('a, button, summary')]
    .filter(e => e.checkVisibility())
    .map(e => { const r = e.getBoundingClientRect(); return Math.round(r.top + r.height / 2); })"""

RIGHT_EDGES = """nav => [...nav.querySelectorAll('a, button, summary')]
    .filter(e => e.checkVisibility()).map(e => e.getBoundingClientRect().right)"""


def open_home(browser, server, user, viewport):
    context = signed_in_context(browser, server, user)
    page = context.new_page()
    page.set_viewport_size(viewport)
    page.goto(f"{server.url}/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Home")).to_be_visible()
    return page, nav


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_the_navigation_is_one_line_at_1280(world, browser, role):
    with AsgiServer() as server:
        page, nav = open_home(browser, server, world.user_for(role), WIDE)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=f"{SHOTS}/nav-{role}-1280.png")
        centres = nav.evaluate(CENTRES)
        assert len(centres) >= 3
        assert max(centres) - min(centres) <= 4, centres
        assert max(nav.evaluate(RIGHT_EDGES)) <= WIDE["width"]


def test_the_admins_settings_menu_opens_closes_and_leads_to_reviews(world, browser):
    with AsgiServer() as server:
        page, nav = open_home(browser, server, world.admin, WIDE)
        expect(nav.get_by_role("link", name="Access reviews")).to_be_hidden()
        nav.get_by_text("Settings", exact=True).click()
        expect(nav.get_by_role("link", name="Intake forms")).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=f"{SHOTS}/nav-practice_admin-menu-1280.png")
        page.keyboard.press("Escape")
        expect(nav.get_by_role("link", name="Intake forms")).to_be_hidden()
        nav.get_by_text("Settings", exact=True).click()
        page.get_by_role("heading", name="Practice administration").click()
        expect(nav.get_by_role("link", name="Intake forms")).to_be_hidden()
        nav.get_by_text("Settings", exact=True).click()
        nav.get_by_role("link", name="Access reviews").click()
        expect(page.get_by_role("heading", name="Emergency access reviews")).to_be_visible()


def test_the_spanish_admin_bar_stays_on_screen_at_1280(world, browser):
    with AsgiServer() as server:
        context = signed_in_context(browser, server, world.admin)
        context.add_cookies([{"name": "django_language", "value": "es", "url": server.url}])
        page = context.new_page()
        page.set_viewport_size(WIDE)
        page.goto(f"{server.url}/")
        nav = page.get_by_role("navigation", name="Principal")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=f"{SHOTS}/nav-practice_admin-es-1280.png")
        assert nav.evaluate(RIGHT_EDGES) and max(nav.evaluate(RIGHT_EDGES)) <= WIDE["width"]
        expect(nav.get_by_role("button", name="Cerrar sesión")).to_be_in_viewport()


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_on_a_phone_the_bar_scrolls_sideways_and_the_page_does_not(world, browser, role):
    with AsgiServer() as server:
        page, nav = open_home(browser, server, world.user_for(role), PHONE)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=f"{SHOTS}/nav-{role}-390.png")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        links = nav.get_by_role("list").first
        assert links.evaluate("ul => getComputedStyle(ul).overflowX") == "auto"
        expect(nav.get_by_role("button", name="Sign out")).to_be_in_viewport()
        if role == Role.PRACTICE_ADMIN:
            nav.get_by_text("Settings", exact=True).scroll_into_view_if_needed()
            nav.get_by_text("Settings", exact=True).click()
            reviews = nav.get_by_role("link", name="Access reviews")
            reviews.scroll_into_view_if_needed()
            expect(reviews).to_be_in_viewport()
            ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=f"{SHOTS}/nav-practice_admin-menu-390.png")
