"""Where the patient's appointments page spends its time, in process: each part's time per
page next to the whole page and to the signed-in "ok" view, measured in the same run on
bench_request_path.py's world (10 upcoming and 10 past visits). The parts are timed by
wrapping the functions that do them:

- `rows_query`: the page's one statement (scheduling.patient_page._rows_postgresql);
- `rows_strings`: the rows' days, times, names and signed link paths (patient_page._page);
- `template`: rendering the page (the view's `render`);
- `audit`: the one audit event listing the rows shown (audit.services.record_many).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/2 python bench/bench_appointments_parts.py

Prints readable lines, then one JSON line last."""

import json
import os
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import bench_request_path as base
from common import fresh_database
from django.test import override_settings

import scheduling.views
from scheduling import patient_page
from telehealth.audit import middleware as audit_middleware

PAGES = int(os.environ.get("BENCH_PAGES", "1000"))
spent: dict[str, float] = defaultdict(float)


def timed(owner: Any, name: str, part: str) -> None:
    """Replace `owner.name` by itself, adding its time to `spent[part]`."""
    real: Callable = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent[part] += time.perf_counter() - start

    setattr(owner, name, wrapper)


def per_page_us(client, url: str) -> float:
    start = time.perf_counter()
    for _ in range(PAGES):
        assert client.get(url).status_code == 200
    return (time.perf_counter() - start) / PAGES * 1e6


def run() -> None:
    _clinician, patient_user = base.world()
    client = base.signed_in(patient_user)
    timed(patient_page, "_rows_postgresql", "rows_query")
    timed(patient_page, "_page", "rows_strings")
    timed(scheduling.views, "render", "template")
    timed(audit_middleware.audit, "record_many", "audit")
    for _ in range(100):  # warm: connections, templates, prepared statements
        client.get("/scheduling/mine/")
    ok_us = per_page_us(client, "/bench-ok/")
    spent.clear()
    page_us = per_page_us(client, "/scheduling/mine/")
    parts = {part: round(seconds / PAGES * 1e6) for part, seconds in spent.items()}
    print(f"signed-in ok view {ok_us:8.0f} us")
    print(f"appointments page {page_us:8.0f} us")
    for part, us in parts.items():
        print(f"  {part:15} {us:8} us  {us / page_us:6.1%} of the page")
    print(json.dumps({"ok_us": round(ok_us), "page_us": round(page_us), "parts_us": parts}))


def main() -> None:
    drop = fresh_database()
    try:
        with override_settings(ROOT_URLCONF=base.urlconf.__name__, ALLOWED_HOSTS=["testserver"]):
            run()
    finally:
        drop()


if __name__ == "__main__":
    main()
