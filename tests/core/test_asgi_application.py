"""The ASGI application, as uvicorn loads it."""

import gc


def test_what_the_application_loaded_is_left_out_of_garbage_collection():
    """Django, the apps and the ICD-10-CM tables live as long as the process; a full collection
    that walked them all paused every request and socket of a worker for about 210 ms."""
    import telehealth.asgi  # noqa: F401  (frozen when first imported)

    assert gc.get_freeze_count() > 100_000
