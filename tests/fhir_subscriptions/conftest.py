import pytest

from telehealth.fhir_subscriptions import services
from telehealth.fhir_subscriptions.topics import APPOINTMENT_CHANGED
from tests.fhir_subscriptions.receiver import Receiver


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def local_endpoints(settings):
    """The test allowlist: http to this machine, which production refuses."""
    settings.FHIR_NOTIFY_ALLOWED_HOSTS = ["127.0.0.1"]
    return settings


def subscribe(world, url, *, topics=(APPOINTMENT_CHANGED,), practice=None, by=None, name="EHR"):
    return services.subscription_create(
        practice=practice or world.practice,
        by=by or world.admin,
        name=name,
        endpoint=url,
        topics=list(topics),
    )
