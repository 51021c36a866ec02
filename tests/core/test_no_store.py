"""Every page and API answer a signed-in user gets is kept out of caches (`no-store`), page by
page or not: the routes come from the URL resolver, so a new one is covered without a list."""

import pytest
from django.db import transaction
from django.urls import reverse

from telehealth.accounts.models import Role
from tests.conftest import sign_in
from tests.core.test_access_matrix import ROUTES, object_id, route_names


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


def url_of(world, name: str) -> str:
    access = ROUTES[name]
    return reverse(name, kwargs={**access.kwargs, **object_id(world, access, outsider=False)})


@pytest.mark.parametrize("role", sorted(Role.values))
def test_every_route_answers_a_signed_in_user_with_no_store(client, world, role):
    user = world.user_for(role)
    cached = []
    for name in sorted(route_names()):
        # Outside the rollback: a session the database forgot would linger in the cache.
        sign_in(client, user)  # a route may sign the user out (logout, a timed-out link)
        # Each route's objects are rolled back so that the next route's cannot clash with them.
        with transaction.atomic():
            response = client.get(url_of(world, name), HTTP_ACCEPT="text/html")
            transaction.set_rollback(True)
        if "no-store" not in response.get("Cache-Control", ""):
            cached.append((name, response.status_code, response.get("Cache-Control")))
    assert cached == []
