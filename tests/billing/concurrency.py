"""Run one billing pull from several threads at once, as beat and a manual run might."""

import threading
from collections.abc import Callable

from django.db import connection

from billing.services import PullResult


def pull_at_once(pull: Callable[[], PullResult], runs: int) -> list[object]:
    """Each run's count of encounters built, or a description of what went wrong: a failed
    item is logged and counted by the pull, not raised, so it is reported here."""
    barrier = threading.Barrier(runs)
    built: list[object] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            outcome = pull()
            result: object = outcome.built if not outcome.failed else f"failed: {outcome}"
        except Exception as exc:  # anything else is a failure the assertions will show
            result = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            built.append(result)

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return built
