"""A patient who lands on the sign-in page (where the home page sends visitors) finds where to
book without an account."""

from tests.conftest import make_practice


def test_the_sign_in_page_offers_each_practices_booking_page(client, world):
    second = make_practice("harbor", "Harbor Clinic")
    landing = client.get("/", follow=True)
    assert landing.status_code == 200
    page = landing.content.decode()
    assert "New here? Book a visit" in page
    for practice in (world.practice, second):
        assert f'href="/book/{practice.slug}/"' in page
        assert f"Book with {practice.name}" in page
    assert client.get(f"/book/{world.practice.slug}/").status_code == 200
