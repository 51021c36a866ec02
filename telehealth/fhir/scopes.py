"""SMART on FHIR system scopes: what a token may do with each resource type.

Both syntaxes are read (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
v1 `system/Observation.read` (read and search), `.write` (create, update, delete), `.*`;
v2 `system/Observation.rs`, the letters of c(reate) r(ead) u(pdate) d(elete) s(earch) in that
order. `*` stands for every resource type. Only the `system/` context is served (backend
services); v2 scopes narrowed by a query (`system/Observation.rs?category=…`) are not
understood, so they are never granted rather than granted wider than asked."""

import re
from collections.abc import Iterable
from dataclasses import dataclass

CREATE, READ, UPDATE, DELETE, SEARCH = "c", "r", "u", "d", "s"
INTERACTIONS = "cruds"
V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": INTERACTIONS}

_SCOPE = re.compile(r"system/(?P<type>\*|[A-Z][A-Za-z]{0,63})\.(?P<permissions>read|write|\*|\w+)")
_V2_PERMISSIONS = re.compile(r"c?r?u?d?s?")


@dataclass(frozen=True)
class Scope:
    resource_type: str  # a FHIR resource type, or "*" for all of them
    permissions: frozenset[str]  # letters of INTERACTIONS

    def allows(self, resource_type: str, interaction: str) -> bool:
        return self.resource_type in ("*", resource_type) and interaction in self.permissions


def parse(text: str) -> Scope | None:
    """The scope `text` names, or None when it is not a system scope we understand."""
    match = _SCOPE.fullmatch(text)
    if match is None:
        return None
    permissions = match["permissions"]
    if permissions in V1_PERMISSIONS:
        return Scope(match["type"], frozenset(V1_PERMISSIONS[permissions]))
    if not _V2_PERMISSIONS.fullmatch(permissions):
        return None  # letters out of order, repeated or unknown
    return Scope(match["type"], frozenset(permissions))


def parse_all(texts: Iterable[str]) -> list[Scope]:
    return [scope for scope in map(parse, texts) if scope is not None]


def split(text: str) -> list[str]:
    """A space-separated scope string as a list, without empties or repeats, order kept."""
    return list(dict.fromkeys(text.split()))


def permits(scopes: Iterable[Scope], resource_type: str, interaction: str) -> bool:
    return any(scope.allows(resource_type, interaction) for scope in scopes)


def covered(scope: Scope, allowed: Iterable[Scope]) -> bool:
    """Whether everything `scope` asks for is within `allowed` (a scope for every type is
    covered only by scopes for every type)."""
    allowed = list(allowed)
    return all(
        any(
            other.resource_type in ("*", scope.resource_type) and letter in other.permissions
            for other in allowed
        )
        for letter in scope.permissions
    )


def granted(requested: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """The requested scopes a client registered for `allowed` receives, as it asked for them:
    each one wholly within what it may have, others dropped."""
    allowed_scopes = parse_all(allowed)
    grant = []
    for text in dict.fromkeys(requested):
        scope = parse(text)
        if scope is not None and covered(scope, allowed_scopes):
            grant.append(text)
    return grant
