import pytest
from django.test import override_settings

from telehealth.celery import app as celery_app

CLOSED_PORT = "redis://127.0.0.1:1/0"


@pytest.fixture(autouse=True)
def every_request_checks(settings):
    """The tests below change a dependency between requests: each request runs its checks.
    The shared results are tested at the end of this module."""
    settings.HEALTHZ_CACHE_SECONDS = 0


def test_healthz_reports_every_part_ok(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "channel_layer": "ok", "broker": "ok"}


def test_healthz_is_503_and_names_an_unreachable_channel_layer(client, db):
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [CLOSED_PORT]},
        }
    }
    with override_settings(CHANNEL_LAYERS=layers):
        from channels.layers import channel_layers

        channel_layers.backends.clear()
        try:
            response = client.get("/healthz")
        finally:
            channel_layers.backends.clear()
    assert response.status_code == 503
    assert response.json()["failing"] == ["channel_layer"]


def test_healthz_is_503_and_names_an_unreachable_broker(client, db, monkeypatch):
    monkeypatch.setitem(celery_app.conf, "broker_url", CLOSED_PORT)
    monkeypatch.setitem(celery_app.conf, "broker_transport_options", {})
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["checks"]["database"] == "ok"


def test_healthz_on_real_redis(client, db, require_redis):
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [require_redis]},
        }
    }
    with override_settings(CHANNEL_LAYERS=layers):
        from channels.layers import channel_layers

        channel_layers.backends.clear()
        try:
            response = client.get("/healthz")
        finally:
            channel_layers.backends.clear()
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_healthz_only_answers_get(client, db, method):
    assert getattr(client, method)("/healthz").status_code == 405


def test_healthz_keeps_one_broker_connection_between_checks(client, db):
    from telehealth import health

    assert client.get("/healthz").status_code == 200
    kept = health._broker[celery_app.conf.broker_url]
    assert client.get("/healthz").status_code == 200
    assert health._broker[celery_app.conf.broker_url] is kept


def test_healthz_reconnects_when_the_broker_dropped_its_kept_connection(client, db, require_redis):
    """A Redis restart closes every client: the next check is still a fresh, honest answer."""
    from telehealth import health

    assert client.get("/healthz").status_code == 200
    url = celery_app.conf.broker_url
    if not url.startswith("redis"):
        pytest.skip("the broker is not Redis here")
    kept_client = health._broker[url].default_channel.client  # type: ignore[attr-defined]
    kept_client.client_kill_filter(_id=kept_client.client_id())
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["broker"] == "ok"


def test_healthz_on_real_redis_pings_every_channel_layer_shard(client, db, require_redis):
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": require_redis}, CLOSED_PORT]},
        }
    }
    with override_settings(CHANNEL_LAYERS=layers):
        from channels.layers import channel_layers

        channel_layers.backends.clear()
        try:
            response = client.get("/healthz")
        finally:
            channel_layers.backends.clear()
    assert response.status_code == 503
    assert response.json()["failing"] == ["channel_layer"]


def test_checks_beyond_the_kept_pool_wait_for_a_connection_instead_of_failing(require_redis):
    """Probes from several balancers at once: a healthy Redis is never reported down because
    every kept connection was busy for a moment."""
    import threading

    from telehealth import health

    health._ping(require_redis)
    pool = health._redis_clients[require_redis].connection_pool
    busy = [pool.get_connection() for _ in range(pool.max_connections)]

    def release_all() -> None:
        for connection in busy:
            pool.release(connection)

    threading.Timer(0.3, release_all).start()
    health._ping(require_redis)  # waits for a released connection, then answers


class CountingCheck:
    def __init__(self, delay: float = 0.0, fails: bool = False):
        self.calls = 0
        self.delay = delay
        self.fails = fails

    def __call__(self) -> None:
        import time

        self.calls += 1
        time.sleep(self.delay)
        if self.fails:
            raise ConnectionError("down")


def test_requests_within_the_window_share_one_run_of_the_checks(client, db, settings, monkeypatch):
    from telehealth import health

    settings.HEALTHZ_CACHE_SECONDS = 60
    check = CountingCheck()
    monkeypatch.setattr(health, "CHECKS", {"database": check})
    for _ in range(5):
        assert client.get("/healthz").status_code == 200
    assert check.calls == 1


def test_a_failure_is_shared_too_and_a_recovery_shows_once_the_window_passed(
    client, db, settings, monkeypatch
):
    """A database that is down is not sent one more query per load balancer."""
    import time

    from telehealth import health

    settings.HEALTHZ_CACHE_SECONDS = 0.2
    check = CountingCheck(fails=True)
    monkeypatch.setattr(health, "CHECKS", {"database": check})
    assert client.get("/healthz").status_code == 503
    assert client.get("/healthz").status_code == 503
    assert check.calls == 1
    check.fails = False
    time.sleep(0.25)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok"}
    assert check.calls == 2


def test_requests_arriving_during_a_run_wait_for_it_instead_of_starting_their_own(
    settings, monkeypatch
):
    from concurrent.futures import ThreadPoolExecutor

    from telehealth import health

    settings.HEALTHZ_CACHE_SECONDS = 60
    check = CountingCheck(delay=0.3)
    monkeypatch.setattr(health, "CHECKS", {"database": check})
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: health.recent_results(), range(8)))
    assert answers == [{"database": "ok"}] * 8
    assert check.calls == 1
