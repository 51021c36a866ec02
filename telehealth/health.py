"""`/healthz`: is each part this process depends on reachable? 503 names the one that is not.

Load balancers call it every few seconds, so each check is one round trip over a connection
the process keeps (a fresh broker connection and a channel-layer send and receive per call cost
more than the page they guard), bounded by HEALTHZ_TIMEOUT_SECONDS.

A process answers from checks at most HEALTHZ_CACHE_SECONDS old (1 s by default), and requests
that arrive while checks run wait for those checks instead of starting their own: several load
balancers, or a burst of monitoring, cost one round trip per dependency per second, and a
struggling database is not sent one more query per caller."""

import asyncio
import threading
import time
import uuid

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection
from redis.backoff import NoBackoff
from redis.retry import Retry

from telehealth.celery import app as celery_app


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _round_trip(layer) -> None:
    channel = await layer.new_channel("healthz.")
    await layer.send(channel, {"type": "healthz.ping", "id": uuid.uuid4().hex})
    await layer.receive(channel)


_redis_clients: dict[str, redis.Redis] = {}


_redis_clients_lock = threading.Lock()


def _ping(url: str) -> None:
    """PING the Redis at `url` over a connection kept for the next check."""
    with _redis_clients_lock:
        client = _redis_clients.get(url)
        if client is None:
            timeout = settings.HEALTHZ_TIMEOUT_SECONDS
            client = redis.Redis(
                # Checks beyond the pool's size wait for a connection (within the timeout)
                # instead of failing a healthy server.
                connection_pool=redis.BlockingConnectionPool.from_url(
                    url,
                    max_connections=4,
                    timeout=timeout,
                    socket_timeout=timeout,
                    socket_connect_timeout=timeout,
                ),
                # One retry, at once: a kept connection the server dropped reconnects, a
                # server that is down fails within two timeouts.
                retry=Retry(NoBackoff(), 1),
            )
            _redis_clients[url] = client
    client.ping()


def _redis_addresses(layer) -> list[str] | None:
    """The Redis URLs of a channels_redis layer (every shard), or None for another layer."""
    hosts = getattr(layer, "hosts", None)
    if not hosts:
        return None
    addresses = []
    for host in hosts:
        address = host.get("address") if isinstance(host, dict) else host
        if not isinstance(address, str):
            return None
        addresses.append(address)
    return addresses


def check_channel_layer() -> None:
    """Each Redis shard of the layer answers a PING; a layer with no server (in memory) makes
    a real send and receive, which costs no I/O."""
    layer = get_channel_layer()
    addresses = _redis_addresses(layer)
    if addresses is not None:
        for address in addresses:
            _ping(address)
        return

    async def bounded():
        await asyncio.wait_for(_round_trip(layer), timeout=settings.HEALTHZ_TIMEOUT_SECONDS)

    async_to_sync(bounded)()


_broker_lock = threading.Lock()
_broker: dict[str, Connection] = {}  # broker URL -> the connection kept for the check


def _broker_round_trip(conn: Connection) -> None:
    timeout = settings.HEALTHZ_TIMEOUT_SECONDS
    # kombu takes seconds as a float; celery-types declare an int.
    conn.ensure_connection(max_retries=0, timeout=timeout)  # type: ignore[arg-type]
    # An open connection is not proof the server still answers: ask it (Redis transport).
    client = getattr(conn.default_channel, "client", None)
    if client is not None:
        client.ping()


def check_broker() -> None:
    """A round trip to the broker over a connection kept per process. A kept connection that
    fails (the server restarted) is replaced by a fresh one, once, before the check fails."""
    timeout = settings.HEALTHZ_TIMEOUT_SECONDS
    url = celery_app.conf.broker_url
    # Checks running at once share the kept connection one at a time, each within the timeout.
    if not _broker_lock.acquire(timeout=timeout):
        raise TimeoutError("another broker check did not finish in time")
    try:
        kept = _broker.pop(url, None)
        if kept is not None:
            try:
                _broker_round_trip(kept)
            except Exception:
                kept.release()
            else:
                _broker[url] = kept
                return
        conn = celery_app.connection_for_write(
            transport_options={"socket_timeout": timeout, "socket_connect_timeout": timeout}
        )
        try:
            _broker_round_trip(conn)
        except Exception:
            conn.release()
            raise
        _broker[url] = conn
    finally:
        _broker_lock.release()


CHECKS = {
    "database": check_database,
    "channel_layer": check_channel_layer,
    "broker": check_broker,
}


def run_checks() -> dict[str, str]:
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure of a dependency is a finding, not a crash
            results[name] = f"error: {type(exc).__name__}"
    return results


_checked_lock = threading.Lock()
_checked: tuple[float, dict[str, str]] | None = None  # (monotonic time, results) of the last run


def recent_results() -> dict[str, str]:
    """The results of checks run at most HEALTHZ_CACHE_SECONDS ago, running them if none are."""
    global _checked
    max_age = settings.HEALTHZ_CACHE_SECONDS
    # Waits at most for one run of the checks ahead of this one (each check is bounded).
    with _checked_lock:
        if _checked is not None and time.monotonic() - _checked[0] < max_age:
            return _checked[1]
        results = run_checks()
        _checked = (time.monotonic(), results)
        return results


def forget_results() -> None:
    global _checked
    with _checked_lock:
        _checked = None


@never_cache
@require_GET
def healthz(request):
    results = recent_results()
    healthy = all(v == "ok" for v in results.values())
    failing = [name for name, v in results.items() if v != "ok"]
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": results, "failing": failing},
        status=200 if healthy else 503,
    )
