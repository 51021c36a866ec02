"""Marking reads of PHI so PHIAccessMiddleware audits them and keeps them out of caches."""

from functools import wraps

from django.db import models


def phi_view(view):
    """For a view whose response shows PHI: the response is `no-store` and, when it succeeds,
    the read is audited with whatever the view passed to `note_phi_access`."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        request.phi_page = True
        return view(request, *args, **kwargs)

    return wrapper


def note_phi_access(request, obj: models.Model | None = None, *, patient=None) -> None:
    """Say which record (and whose) a PHI read showed; the middleware writes the event."""
    request.phi_page = True
    reads = getattr(request, "phi_reads", None)
    if reads is None:
        reads = request.phi_reads = []
    reads.append((obj, patient))
