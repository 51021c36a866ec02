"""Every kind of no-login link registered with telehealth.links, walked from the registry so
that a new kind is covered without anyone remembering to add it: its link opens its page,
expires, can be revoked, and refuses tampering."""

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import models
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from feedback.models import Survey
from scheduling.models import Appointment, WaitlistEntry, WaitlistOffer
from telehealth import links
from telehealth.accounts.models import Patient
from tests.conftest import make_patient
from tests.feedback.helpers import survey_of
from tests.visits.test_consumers import make_visit
from visits.models import Visit


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

KINDS = [kind.name for kind in links.kinds()]


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    cache.clear()  # the date-of-birth counters are keyed by patient id, which tests reuse


@pytest.fixture
def examples(world, video_type) -> dict[type[models.Model], models.Model]:
    """One object of each model a link can point to."""
    visit = make_visit(world, video_type)
    entry = WaitlistEntry.objects.create(
        practice=world.practice,
        patient=world.patient,
        appointment_type=video_type,
        latest=timezone.now() + timedelta(days=14),
    )
    offer = WaitlistOffer.objects.create(
        entry=entry,
        provider=world.clinician.provider,
        start=timezone.now() + timedelta(days=1),
        expires_at=timezone.now() + timedelta(hours=2),
    )
    return {
        Appointment: visit.appointment,
        Visit: visit,
        # Without a portal account: the account invitation ends once the patient has one.
        Patient: make_patient(world.practice, "Nina Newcomer", "nina@example.com", login=False),
        WaitlistOffer: offer,
        Survey: survey_of(world.patient),
    }


def example(examples, kind: links.LinkKind) -> models.Model:
    model = kind.queryset().model
    assert model in examples, f"Add an example {model.__name__} for links of kind {kind.name}."
    return examples[model]


def path_of(url: str) -> str:
    return url.removeprefix(settings.SITE_URL)


def test_the_registry_holds_every_kind_of_link_the_apps_send():
    assert set(KINDS) >= {
        "appointment-manage",
        "waitlist-offer",
        "visit-join",
        "intake",
        "visit-summary",
        "account-invite",
    }
    assert len({links.get(name).salt for name in KINDS}) == len(KINDS)


@pytest.mark.parametrize("name", KINDS)
def test_a_link_opens_its_object_and_its_page(name, examples):
    kind = links.get(name)
    obj = example(examples, kind)
    assert links.read(name, links.token_for(name, obj)) == obj
    url = links.url_for(name, obj)
    assert url.startswith(settings.SITE_URL)
    page = Client().get(path_of(url))
    assert page.status_code == 200
    if kind.date_of_birth_checked:
        assert b'name="date_of_birth"' in page.content


def list_token(kind: links.LinkKind, obj: models.Model) -> str:
    """The token a list page shows for the object (`tokens_at_versions`, which signs a link
    without a lifetime once per process)."""
    version = links._version(kind, obj.pk)
    return links.tokens_at_versions(kind.name, {obj.pk: version})[obj.pk]


@pytest.mark.parametrize("name", KINDS)
def test_a_link_expires_after_its_lifetime(name, examples, monkeypatch):
    kind = links.get(name)
    if kind.max_age is None:
        pytest.skip("this kind of link ends with its object (see its check)")
    obj = example(examples, kind)
    signed_at = time.time() - kind.max_age.total_seconds() - 60
    with monkeypatch.context() as past:
        past.setattr(time, "time", lambda: signed_at)
        token = links.token_for(name, obj)
        listed = list_token(kind, obj)
    for old in (token, listed):
        with pytest.raises(links.LinkExpired):
            links.read(name, old)
    # A list page signs when it shows the link, not once: its lifetime counts from then.
    assert links.read(name, list_token(kind, obj)) == obj
    page = Client().get(
        path_of(links.url_for(name, obj).replace(links.token_for(name, obj), token))
    )
    assert page.status_code == 410
    assert b"expired" in page.content


@pytest.mark.parametrize("name", KINDS)
def test_a_revoked_link_stops_and_a_new_one_works(name, examples):
    obj = example(examples, links.get(name))
    sent = links.url_for(name, obj)
    token = links.token_for(name, obj)
    links.revoke(name, obj)
    with pytest.raises(links.LinkRevoked):
        links.read(name, token)
    page = Client().get(path_of(sent))
    assert page.status_code == 410
    assert b"out of date" in page.content
    assert links.read(name, links.token_for(name, obj)) == obj
    links.revoke(name, obj)  # a second revocation ends the second link too
    with pytest.raises(links.LinkRevoked):
        links.read(name, token)


@pytest.mark.parametrize("name", KINDS)
def test_a_list_pages_token_opens_its_object_until_revoked(name, examples, monkeypatch):
    kind = links.get(name)
    obj = example(examples, kind)
    shown = list_token(kind, obj)
    assert links.read(name, shown) == obj
    if kind.max_age is None:
        later = time.time() + 10  # a token signed again would carry another second
        with monkeypatch.context() as clock:
            clock.setattr(time, "time", lambda: later)
            assert list_token(kind, obj) == shown  # signed once, shown on every load
    links.revoke(name, obj)
    with pytest.raises(links.LinkRevoked):
        links.read(name, shown)
    assert links.read(name, list_token(kind, obj)) == obj


@pytest.mark.parametrize("name", KINDS)
def test_a_list_pages_token_is_signed_with_the_key_in_use(name, examples):
    kind = links.get(name)
    obj = example(examples, kind)
    list_token(kind, obj)  # signed, and for a link without a lifetime kept, with this key
    with override_settings(SECRET_KEY="another key of fifty characters or more, for tests"):
        token = list_token(kind, obj)
        assert links.read(name, token) == obj
    with pytest.raises(links.LinkInvalid):
        links.read(name, token)


@pytest.mark.parametrize("name", KINDS)
def test_a_tampered_link_is_refused(name, examples):
    kind = links.get(name)
    obj = example(examples, kind)
    token = links.token_for(name, obj)
    payload, stamp, signature = token.rsplit(":", 2)
    forged_payload = signing.dumps({kind.id_key: obj.pk + 1}, salt=kind.salt).split(":")[0]
    for tampered in (
        token[:-2] + ("xx" if not token.endswith("xx") else "yy"),
        f"{forged_payload}:{stamp}:{signature}",  # another object under this signature
        signing.dumps({kind.id_key: obj.pk, kind.version_key: 1}, salt="another-salt"),
        "not-a-link",
    ):
        with pytest.raises(links.LinkInvalid):
            links.read(name, tampered)
    # The page itself, at the address a link of this kind has (a second url_for would sign a
    # new token, which differs from `token` when the clock has passed a second since).
    assert Client().get(reverse(kind.url_name, args=["not-a-link"])).status_code == 410


@pytest.mark.parametrize("name", KINDS)
def test_a_link_of_one_kind_opens_nothing_as_another(name, examples):
    obj = example(examples, links.get(name))
    token = links.token_for(name, obj)
    for other in KINDS:
        if other != name:
            with pytest.raises(links.LinkInvalid):
                links.read(other, token)


# Modules that sign something that is never a link (nothing to revoke), and why.
SIGNS_NO_LINK = {
    "telehealth/audit/checkpoints.py",  # audit chain checkpoints, checked by verify_audit
}


def test_no_app_signs_links_by_hand():
    """Every signed link goes through telehealth.links, so every one can be revoked."""
    hand_signed = re.compile(r"signing\.(dumps|loads)|TimestampSigner|\bSigner\(")
    found = []
    for config in apps.get_app_configs():
        root = Path(config.path)
        if settings.BASE_DIR not in root.parents or "site-packages" in root.parts:
            continue  # third-party apps (a virtualenv may live inside the checkout)
        for source in root.rglob("*.py"):
            if source.name == "links.py" and source.parent.name == "telehealth":
                continue
            if "migrations" in source.parts:
                continue
            if source.relative_to(settings.BASE_DIR).as_posix() in SIGNS_NO_LINK:
                continue
            if hand_signed.search(source.read_text()):
                found.append(str(source.relative_to(settings.BASE_DIR)))
    assert found == []
