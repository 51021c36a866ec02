"""The one way JSON from outside is read: the API, the visit endpoints, device ingestion and
WebSocket frames all parse through `loads`, so every door refuses the same bad input with the
same message instead of failing further in (a RecursionError in pydantic or the encoder, a NUL
that PostgreSQL refuses to store, an integer no column can hold)."""

import json
from typing import Any

from django.http import HttpRequest
from django.http.request import RawPostDataException
from django.utils.translation import gettext as _

MAX_DEPTH = 32
# The widest integer column we have (bigint); anything beyond it can only be a mistake.
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1


class JSONInputError(ValueError):
    """Input that is not JSON we accept; `message` is safe to show to the sender."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _bounded_int(text: str) -> int:
    number = int(text)
    if not INT_MIN <= number <= INT_MAX:
        raise JSONInputError(_("A number in the JSON is out of range."))
    return number


def _refuse_constant(name: str) -> float:
    raise JSONInputError(_("NaN and Infinity are not JSON numbers."))


def _check(value: Any, max_depth: int) -> None:
    """Walk without recursion (the point is to survive deep input): depth, then NUL."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise JSONInputError(_("Text may not contain NUL characters."))
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            raise JSONInputError(
                _("The JSON is nested too deeply (at most %(depth)s levels).")
                % {"depth": max_depth}
            )
        if isinstance(item, dict):
            for key, inner in item.items():
                if "\x00" in key:
                    raise JSONInputError(_("Text may not contain NUL characters."))
                stack.append((inner, depth + 1))
        else:
            stack.extend((inner, depth + 1) for inner in item)


def loads(
    raw: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH, bounded_numbers: bool = True
) -> Any:
    """Parse `raw` as JSON, or raise JSONInputError with a message for the sender.

    Refused: malformed JSON, nesting deeper than `max_depth` arrays/objects, NUL characters in
    strings or keys and, unless `bounded_numbers` is off (the caller checks each number itself),
    NaN/Infinity and integers outside the 64-bit range."""
    numbers: dict[str, Any] = (
        {"parse_int": _bounded_int, "parse_constant": _refuse_constant} if bounded_numbers else {}
    )
    try:
        value = json.loads(raw, **numbers)
    except JSONInputError:
        raise
    except RecursionError as exc:
        raise JSONInputError(
            _("The JSON is nested too deeply (at most %(depth)s levels).") % {"depth": max_depth}
        ) from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digits limit
        raise JSONInputError(_("The body is not valid JSON.")) from exc
    _check(value, max_depth)
    return value


def request_json(request: HttpRequest, *, empty: Any = None, bounded_numbers: bool = True) -> Any:
    """The request's JSON body (`empty` when there is none), or JSONInputError. A form body
    has already been read as a form (NulRefusalMiddleware), so it is refused, not re-read."""
    try:
        raw = request.body
    except RawPostDataException as exc:
        raise JSONInputError(_("Send the body as JSON, not as a form.")) from exc
    return loads(raw, bounded_numbers=bounded_numbers) if raw else empty
