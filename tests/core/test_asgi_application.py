"""The ASGI application, as uvicorn loads it."""

import gc


def test_what_the_application_loaded_is_left_out_of_garbage_collection():
    """Django, the apps and the ICD-10-CM tables live as long as the process; a full collection
    that walked them all paused every request and socket of a worker for about 210 ms. The
    application object, built last, is frozen too: the freeze comes after everything loads."""
    import telehealth.asgi

    assert gc.get_freeze_count() > 100_000
    application = telehealth.asgi.application
    assert gc.is_tracked(application)
    assert not any(tracked is application for tracked in gc.get_objects())
