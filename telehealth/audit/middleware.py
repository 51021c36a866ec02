from django.utils.cache import add_never_cache_headers, patch_cache_control

from telehealth.audit import services as audit
from telehealth.audit.models import Action


class PHIAccessMiddleware:
    """Audits successful reads of pages and API answers marked as PHI, and forbids caching
    them anywhere (`Cache-Control: no-store`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not getattr(request, "phi_page", False):
            return response
        add_never_cache_headers(response)
        patch_cache_control(response, no_store=True, private=True)
        if request.method in {"GET", "HEAD"} and response.status_code < 400:
            reads = getattr(request, "phi_reads", None) or [(None, None)]
            # No transaction of its own: on PostgreSQL the event is one statement (one round
            # trip); elsewhere `record_many` opens the one it needs.
            audit.record_many(
                action=Action.VIEW,
                actor=request.user,
                objects=reads,
                request=request,
                detail=request.path[:300],
            )
        return response
