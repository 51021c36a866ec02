"""A fixed-window counter in the cache (Redis in production): `over_limit` counts a hit and
says whether the caller is past `limit` hits in this `window` of seconds."""

import time

from django.core.cache import cache


def over_limit(key: str, *, limit: int, window: int) -> bool:
    bucket = f"ratelimit:{key}:{int(time.time() // window)}"
    cache.add(bucket, 0, timeout=window + 5)
    try:
        count = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.set(bucket, 1, timeout=window + 5)
        count = 1
    return count > limit
