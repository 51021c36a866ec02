import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def empty_cache():
    """Rate-limit counters live in the cache, keyed by patient id; ids repeat when the test
    database is created again, so a count left by an earlier run must not lock this one."""
    cache.clear()


@pytest.fixture(scope="session")
def janus_server():
    """One real Janus for the whole run (skipped without the janus package, unless
    REQUIRE_SERVICES=1)."""
    from tests.conftest import missing_service
    from tests.janus_server import janus_installed, start_janus

    if not janus_installed():
        missing_service("Janus is not installed (make media, or apt-get install janus)")
    server = start_janus("media-a")
    yield server
    server.stop()


@pytest.fixture
def second_janus(janus_server):
    """Another instance, for this test alone (it may be stopped inside the test)."""
    from tests.janus_server import start_janus

    server = start_janus("media-b")
    yield server
    server.stop()


@pytest.fixture
def janus_settings(settings, janus_server):
    settings.JANUS_INSTANCES = [janus_server.entry]
    return settings
