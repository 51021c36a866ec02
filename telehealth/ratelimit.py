"""A fixed-window counter in the cache (Redis in production): `over_limit` counts a hit and
says whether the caller is past `limit` hits in this `window` of seconds. Counting before
checking keeps the limit exact under concurrent requests; `forgive` takes a hit back once the
request turned out to be legitimate (a right answer should not use up a try)."""

import contextlib
import time

from django.core.cache import cache


def _bucket(key: str, window: int) -> str:
    return f"ratelimit:{key}:{int(time.time() // window)}"


def over_limit(key: str, *, limit: int, window: int) -> bool:
    bucket = _bucket(key, window)
    cache.add(bucket, 0, timeout=window + 5)
    try:
        count = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.set(bucket, 1, timeout=window + 5)
        count = 1
    return count > limit


def forgive(key: str, *, window: int) -> None:
    with contextlib.suppress(ValueError):  # the window turned over: nothing to take back
        cache.decr(_bucket(key, window))


def hits(key: str, *, window: int) -> int:
    """The hits counted in this window so far, without counting one."""
    return int(cache.get(_bucket(key, window)) or 0)
