"""What the asynchronous cases (e-visits and e-consults) share in their writes: the case
re-read under a row lock, a move checked against the case's transition table, and a text
checked before it is stored. Each caller passes its own error class and wording."""

from collections.abc import Mapping
from typing import TypeVar

from django.db.models import Model, QuerySet
from django.utils.translation import gettext as _

M = TypeVar("M", bound=Model)
MAX_TEXT = 5000


def locked(cases: QuerySet[M], pk: int) -> M:
    """The case re-read under a row lock (of its own row only, not the joined ones): the
    state a decision is made on is the current one. Call inside a transaction."""
    return cases.select_for_update(of=("self",)).get(pk=pk)


def move(
    case,
    to: str,
    *,
    transitions: Mapping[str, frozenset[str]],
    refusal: str,
    error: type[Exception],
) -> None:
    """Set the case's state to `to` if its table allows it; otherwise raise `error` with
    `refusal`, a wording with a %(state)s placeholder for the state the case is in."""
    if to not in transitions.get(case.state, frozenset()):
        raise error(str(refusal) % {"state": case.get_state_display().lower()})
    case.state = to


def text(body: str, label: str, *, error: type[Exception]) -> str:
    body = (body or "").strip()
    if not body:
        raise error(_("Write the %(what)s first.") % {"what": label})
    if len(body) > MAX_TEXT:
        raise error(_("Keep it under %(n)s characters.") % {"n": MAX_TEXT})
    return body
