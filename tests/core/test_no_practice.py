"""Staff whose account has no practice (a removed practice, a misconfigured account) get a
403 from the pages and admin screens that work on "their practice", never a 500."""

import pytest

from tests.conftest import make_staff, sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_without_practice(world):
    return make_staff(None, "practice_admin", "adrift@alpha.test", "Adrift Admin")


@pytest.mark.parametrize(
    "url",
    [
        "/visits/",
        "/intake/manage/",
        "/intake/manage/new/",
        "/admin/scheduling/appointmenttype/",
        "/admin/scheduling/appointmenttype/add/",
        "/admin/notify/messagetemplate/",
        "/admin/messaging/savedreply/",
    ],
)
def test_practice_pages_refuse_staff_without_a_practice(client, admin_without_practice, url):
    sign_in(client, admin_without_practice)
    assert client.get(url).status_code == 403


def test_the_admin_index_shows_them_no_practice_rows(client, admin_without_practice):
    sign_in(client, admin_without_practice)
    page = client.get("/admin/")
    assert page.status_code == 200
    assert b"/admin/scheduling/appointmenttype/" not in page.content


def test_the_menu_offers_them_no_practice_pages(client, world, admin_without_practice):
    sign_in(client, admin_without_practice)
    menu = client.get("/").content.decode()
    for url in ("/messaging/inbox/", "/visits/", "/intake/manage/"):
        assert f'href="{url}"' not in menu
    sign_in(client, world.admin)
    menu = client.get("/").content.decode()
    for url in ("/messaging/inbox/", "/visits/", "/intake/manage/"):
        assert f'href="{url}"' in menu


def test_the_schedule_tells_staff_without_a_practice_why_they_are_refused(
    client, admin_without_practice
):
    sign_in(client, admin_without_practice)
    response = client.get("/scheduling/")
    assert response.status_code == 403
    assert "not linked to a practice" in response.content.decode()


def test_the_api_tells_staff_without_a_practice_why_they_are_refused(
    client, admin_without_practice
):
    sign_in(client, admin_without_practice)
    response = client.get("/api/v1/scheduling/appointments")
    assert response.status_code == 403
    assert "not linked to a practice" in response.json()["detail"]
