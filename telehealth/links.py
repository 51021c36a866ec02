"""Links that open one object without a login: the appointment's manage link, a waitlist
offer, a visit's join link, the intake link, the after-visit summary.

Each app registers its kinds of link in `AppConfig.ready` (salt, lifetime, the page it opens,
where the object is found, whether it asks for the patient's date of birth). Then:

- `token_for(kind, obj)` / `url_for(kind, obj)` sign a link to the object;
- `read(kind, token)` answers the object or raises a `LinkError` that says why not (invalid,
  expired, revoked, or ended by the object's own state);
- `revoke(kind, obj)` ends every link of that kind to the object sent so far: a token carries
  the object's link version (`LinkVersion`, 1 until first revoked) and stops matching;
- `date_of_birth_check(kind, obj, date_of_birth)` compares the patient's date of birth with
  ONE attempt counter per patient, shared by every kind of link: guesses spread over the
  intake link and a visit link of the same patient add up.

Tokens keep the payload keys each helper used before this module (`id_key`, `version_key`),
so links already in patients' inboxes keep working."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import models, transaction
from django.db.models import F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.translation import gettext as _

from telehealth.accounts.models import LinkVersion, Patient
from telehealth.ratelimit import forgive, hits, over_limit

DOB_ATTEMPTS = 5  # wrong dates of birth per patient per window, over every kind of link
DOB_WINDOW_SECONDS = 15 * 60


def _no_check(obj: Any) -> str | None:
    return None


@dataclass(frozen=True)
class LinkKind:
    name: str
    salt: str
    # None: the link lives as long as `check` lets it, for links whose object ends them (an
    # appointment's links work however far ahead it was booked, and end with the visit).
    max_age: timedelta | None
    url_name: str  # the page the link opens; it takes the token as its one argument
    queryset: Callable[[], models.QuerySet]  # where `read` finds the object
    id_key: str = "o"
    version_key: str = "n"
    # Set for links that ask for the date of birth of this patient before they open anything.
    patient_of: Callable[[Any], Patient] | None = None
    # A reason the object's own state ends the link (an appointment in the past), or None.
    check: Callable[[Any], str | None] = _no_check

    @property
    def date_of_birth_checked(self) -> bool:
        return self.patient_of is not None


_kinds: dict[str, LinkKind] = {}


def register(kind: LinkKind) -> None:
    if kind.name in _kinds and _kinds[kind.name] != kind:
        raise ValueError(f"Another link kind is registered as {kind.name!r}.")
    _kinds[kind.name] = kind


def kinds() -> list[LinkKind]:
    return list(_kinds.values())


def get(name: str) -> LinkKind:
    try:
        return _kinds[name]
    except KeyError:
        raise LookupError(f"No link kind {name!r} is registered.") from None


class LinkError(Exception):
    """A link that opens nothing, with a message for the person who followed it."""

    reason = "invalid"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class LinkInvalid(LinkError):
    reason = "invalid"


class LinkExpired(LinkError):
    reason = "expired"


class LinkRevoked(LinkError):
    reason = "revoked"


class LinkEnded(LinkError):
    reason = "ended"


def _version(kind: LinkKind, object_id: int) -> int:
    found = (
        LinkVersion.objects.filter(kind=kind.name, object_id=object_id)
        .values_list("version", flat=True)
        .first()
    )
    return found or 1


def token_for(kind: str, obj: models.Model, *, new: bool = False) -> str:
    """`new`: the object was created in the caller's transaction, so no link of it was ever
    revoked and its version is the first (ids are never reused): nothing to read."""
    link = get(kind)
    payload = {link.id_key: obj.pk, link.version_key: 1 if new else _version(link, obj.pk)}
    return signing.dumps(payload, salt=link.salt)


def tokens_for(kind: str, objs: Iterable[models.Model]) -> dict[Any, str]:
    """`token_for` of each object, keyed by pk, with one query for their versions (list
    pages that show a link per row)."""
    return tokens_for_kinds({kind: objs})[kind]


def tokens_for_kinds(objs_by_kind: dict[str, Iterable[models.Model]]) -> dict[str, dict[Any, str]]:
    """`tokens_for` of several kinds (a row with a manage and a join link), in one query."""
    wanted = [(get(kind), list(objs)) for kind, objs in objs_by_kind.items()]
    rows = Q()
    for link, objs in wanted:
        if objs:
            rows |= Q(kind=link.name, object_id__in=[obj.pk for obj in objs])
    found = LinkVersion.objects.filter(rows).values_list("kind", "object_id", "version")
    versions = {(kind, pk): version for kind, pk, version in found} if rows else {}
    return {
        link.name: tokens_at_versions(
            link.name, {obj.pk: versions.get((link.name, obj.pk), 1) for obj in objs}
        )
        for link, objs in wanted
    }


def version_column(kind: str, object_id: str = "pk") -> Coalesce:
    """An annotation: the row's link version of this kind (1 without a LinkVersion row), for
    a list that reads its rows' versions with the rows instead of in a query of its own."""
    versions = LinkVersion.objects.filter(kind=get(kind).name, object_id=OuterRef(object_id))
    return Coalesce(Subquery(versions.values("version")[:1]), Value(1))


def tokens_at_versions(kind: str, versions: dict[Any, int]) -> dict[Any, str]:
    """The token of each object id at its link version (read with `version_column`)."""
    link = get(kind)
    if link.max_age is None:
        key = settings.SECRET_KEY
        return {
            pk: _lasting_token(link.salt, link.id_key, link.version_key, key, pk, version)
            for pk, version in versions.items()
        }
    # What signing.dumps does, with one signer for the kind rather than one per row.
    signer = signing.TimestampSigner(salt=link.salt)
    return {
        pk: signer.sign_object({link.id_key: pk, link.version_key: version})
        for pk, version in versions.items()
    }


@lru_cache(maxsize=8192)
def _lasting_token(
    salt: str, id_key: str, version_key: str, secret_key: str, pk: Any, version: int
) -> str:
    """The token of a link without a maximum age, signed once per process for each object
    and version (and key): a list page shows the same links on every load, and signing them
    again was about 6 % of the patient's appointments page. Its timestamp is the first
    signing's, which no one reads when there is no age to check; a revoked link's new version
    is another entry, so the cache never hands out a revoked token."""
    signer = signing.TimestampSigner(key=secret_key, salt=salt)
    return signer.sign_object({id_key: pk, version_key: version})


def url_for(kind: str, obj: models.Model, *, new: bool = False) -> str:
    return settings.SITE_URL + reverse(get(kind).url_name, args=[token_for(kind, obj, new=new)])


def read(kind: str, token: str) -> Any:
    """The object a link of this kind points to, or a `LinkError` saying why not."""
    link = get(kind)
    try:
        data = signing.loads(token, salt=link.salt, max_age=link.max_age)
    except signing.SignatureExpired as exc:
        raise LinkExpired(
            _("This link has expired. Sign in to the portal, or ask us for a new link.")
        ) from exc
    except signing.BadSignature as exc:
        raise LinkInvalid(
            _("This link is not valid. It may be incomplete or out of date.")
        ) from exc
    object_id = data.get(link.id_key) if isinstance(data, dict) else None
    if not isinstance(object_id, int):
        raise LinkInvalid(_("This link is not valid. It may be incomplete or out of date."))
    obj = link.queryset().filter(pk=object_id).first()
    if obj is None:
        raise LinkInvalid(_("This link is not valid: what it pointed to no longer exists."))
    if data.get(link.version_key, 1) != _version(link, object_id):
        raise LinkRevoked(
            _("This link is out of date: it was changed or cancelled since it was sent.")
        )
    problem = link.check(obj)
    if problem:
        raise LinkEnded(problem)
    return obj


def revoke(kind: str, obj: models.Model) -> None:
    """End every link of this kind to the object sent so far; new links work again."""
    link = get(kind)
    with transaction.atomic():
        row, created = LinkVersion.objects.select_for_update().get_or_create(
            kind=link.name, object_id=obj.pk, defaults={"version": 2}
        )
        if not created:
            LinkVersion.objects.filter(pk=row.pk).update(version=F("version") + 1)


class DateOfBirth(Enum):
    ASK = "ask"  # nothing to compare yet: show the form
    RIGHT = "right"
    WRONG = "wrong"
    LOCKED = "locked"  # too many wrong answers for this patient: refuse for a while


def _dob_key(patient: Patient) -> str:
    return f"link-dob:{patient.pk}"


def date_of_birth_check(*, kind: str, obj: models.Model, date_of_birth: date | None) -> DateOfBirth:
    """Compare a date of birth typed on a link with its patient's, under one counter per
    patient shared by every kind of link and every browser session (a new cookie buys no
    tries). Every check counts before comparing, so parallel guesses cannot slip past; a
    right answer gives its try back. Pass None to ask whether the form may be shown."""
    link = get(kind)
    if link.patient_of is None:
        raise ValueError(f"Links of kind {kind!r} do not ask for a date of birth.")
    patient = link.patient_of(obj)
    key = _dob_key(patient)
    if date_of_birth is None:
        locked = hits(key, window=DOB_WINDOW_SECONDS) >= DOB_ATTEMPTS
        return DateOfBirth.LOCKED if locked else DateOfBirth.ASK
    if over_limit(key, limit=DOB_ATTEMPTS, window=DOB_WINDOW_SECONDS):
        return DateOfBirth.LOCKED
    if date_of_birth == patient.date_of_birth:
        forgive(key, window=DOB_WINDOW_SECONDS)
        return DateOfBirth.RIGHT
    return DateOfBirth.WRONG
