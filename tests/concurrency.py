"""Run several calls at once, each on its own thread and database connection, as concurrent
requests would: for tests of locks and constraints (PostgreSQL)."""

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def at_once(calls: list[Callable[[], T]]) -> list[T | str]:
    """Each call's answer, or "error: ..." for what it raised, in the order they finished.
    The threads start together (a barrier), and each closes its connection when done."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[T | str] = []
    lock = threading.Lock()

    def run(call: Callable[[], T]) -> None:
        result: T | str
        try:
            barrier.wait()
            result = call()
        except Exception as exc:  # anything else is a failure the assertions will show
            result = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
