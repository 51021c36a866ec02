"""A practice admin manages their practice's people, never a platform superuser among them."""

from tests.conftest import make_staff, sign_in


def test_practice_admin_cannot_see_or_reset_a_superuser_of_their_practice(client, world):
    root = make_staff(world.practice, "practice_admin", "root@alpha.test", "Root Operator")
    root.is_superuser = True
    root.save(update_fields=["is_superuser"])
    sign_in(client, world.admin)

    listing = client.get("/admin/accounts/user/")
    assert listing.status_code == 200
    assert b"Root Operator" not in listing.content
    assert world.clinician.full_name.encode() in listing.content

    assert client.get(f"/admin/accounts/user/{root.pk}/change/").status_code == 302
    password_page = client.get(f"/admin/accounts/user/{root.pk}/password/")
    assert password_page.status_code == 404
    posted = client.post(
        f"/admin/accounts/user/{root.pk}/password/",
        {"password1": "a new long passphrase 42", "password2": "a new long passphrase 42"},
    )
    assert posted.status_code == 404
    root.refresh_from_db()
    assert not root.check_password("a new long passphrase 42")


def test_superuser_still_manages_every_user(client, world):
    root = make_staff(world.practice, "practice_admin", "root@alpha.test", "Root Operator")
    root.is_superuser = True
    root.save(update_fields=["is_superuser"])
    sign_in(client, root)
    assert client.get(f"/admin/accounts/user/{world.admin.pk}/change/").status_code == 200
    assert client.get(f"/admin/accounts/user/{root.pk}/change/").status_code == 200
