"""Which endpoint URLs we POST to. The server sits inside the clinic's network, so an endpoint
that names a private, loopback or link-local address would let whoever registers it probe that
network (server-side request forgery): only https on public addresses is accepted, except the
hosts in FHIR_NOTIFY_ALLOWED_HOSTS (tests and local development)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from telehealth.net import addresses_of, is_public_address


def _allowed(host: str) -> bool:
    return host.lower() in settings.FHIR_NOTIFY_ALLOWED_HOSTS


def endpoint_problem(url: str) -> str:
    """Why we would not POST to this URL, or "" when we would. Resolves the host name: run it
    when the endpoint is registered and again before each delivery, since what a name resolves
    to can change after registration."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return _("Enter a valid URL.")
    host = parts.hostname or ""
    if not host or parts.username or parts.password:
        return _("Enter a URL with a host name and no user name or password in it.")
    if _allowed(host):
        return "" if parts.scheme in ("http", "https") else _("Enter an http or https URL.")
    if parts.scheme != "https":
        return _("The endpoint must use https.")
    try:
        addresses = addresses_of(host, port or 443)
    except (OSError, UnicodeError):
        return _("The endpoint's host name does not resolve.")
    if not addresses or not all(is_public_address(address) for address in addresses):
        return _("The endpoint must be on a public internet address, not a private network.")
    return ""
