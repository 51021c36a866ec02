import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def empty_cache():
    """Rate-limit counters live in the cache, keyed by patient or user id; ids repeat when the test
    database is created again, so a count left by an earlier run must not lock this one."""
    cache.clear()
