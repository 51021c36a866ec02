"""`/healthz`: is each part this process depends on reachable? 503 names the one that is not."""

import asyncio
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from telehealth.celery import app as celery_app


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _round_trip(layer) -> None:
    channel = await layer.new_channel("healthz.")
    await layer.send(channel, {"type": "healthz.ping", "id": uuid.uuid4().hex})
    await layer.receive(channel)


def check_channel_layer() -> None:
    layer = get_channel_layer()

    async def bounded():
        await asyncio.wait_for(_round_trip(layer), timeout=settings.HEALTHZ_TIMEOUT_SECONDS)

    async_to_sync(bounded)()


def check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        # kombu takes seconds as a float; celery-types declare an int.
        conn.ensure_connection(max_retries=0, timeout=settings.HEALTHZ_TIMEOUT_SECONDS)  # type: ignore[arg-type]


CHECKS = {
    "database": check_database,
    "channel_layer": check_channel_layer,
    "broker": check_broker,
}


@never_cache
@require_GET
def healthz(request):
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure of a dependency is a finding, not a crash
            results[name] = f"error: {type(exc).__name__}"
    healthy = all(v == "ok" for v in results.values())
    failing = [name for name, v in results.items() if v != "ok"]
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": results, "failing": failing},
        status=200 if healthy else 503,
    )
