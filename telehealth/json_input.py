"""The one way JSON from outside is read: the API, the visit endpoints, device ingestion and
WebSocket frames all parse through `loads`, so every door refuses the same bad input with the
same message instead of failing further in (a RecursionError in pydantic or the encoder, a NUL
that PostgreSQL refuses to store, an integer no column can hold)."""

import json
import re
from typing import Any

import orjson
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


_CONTAINERS = (dict, list)
_NUL_ESCAPE = "\\u0000"  # the only way JSON text can hold NUL (raw control characters are invalid)
# orjson reads integers past 64 bits as floats where json reads them exactly: text with a run
# of 19 digits (anything near the 64-bit range) is left to json.
_LONG_NUMBER = re.compile(rb"\d{19}")


def _check(value: Any, max_depth: int, *, strings: bool = True) -> None:
    """Walk without recursion (the point is to survive deep input), a level at a time, only
    into containers: depth, then NUL in keys and strings (skipped when `strings` is off, for
    text that has no NUL escape at all)."""
    level = [value] if type(value) in _CONTAINERS else []
    depth = 1
    while level:
        if depth > max_depth:
            raise JSONInputError(
                _("The JSON is nested too deeply (at most %(depth)s levels).")
                % {"depth": max_depth}
            )
        deeper: list[Any] = []
        for item in level:
            inner = item.values() if type(item) is dict else item
            if strings:
                _refuse_nul(item)
            deeper.extend(v for v in inner if type(v) in _CONTAINERS)
        level = deeper
        depth += 1
    if strings and isinstance(value, str) and "\x00" in value:
        raise JSONInputError(_("Text may not contain NUL characters."))


def _refuse_nul(container: dict | list) -> None:
    texts = (*container.keys(), *container.values()) if type(container) is dict else container
    for text in texts:
        if type(text) is str and "\x00" in text:
            raise JSONInputError(_("Text may not contain NUL characters."))


def loads(
    raw: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH, bounded_numbers: bool = True
) -> Any:
    """Parse `raw` as JSON, or raise JSONInputError with a message for the sender.

    Refused: malformed JSON, nesting deeper than `max_depth` arrays/objects, NUL characters in
    strings or keys and, unless `bounded_numbers` is off (the caller checks each number itself),
    NaN/Infinity and integers outside the 64-bit range."""
    if not isinstance(raw, str) and not _LONG_NUMBER.search(raw):
        # The fast parser, for what it reads exactly as json does: it refuses everything else
        # (NaN and Infinity, 1e400, lone surrogates, a byte order mark, UTF-16), which then
        # takes json's way below and gets json's answer or message.
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            _check(value, max_depth, strings=_NUL_ESCAPE.encode() in raw)
            return value
    numbers: dict[str, Any] = (
        {"parse_int": _bounded_int, "parse_constant": _refuse_constant} if bounded_numbers else {}
    )
    try:
        text = (
            raw if isinstance(raw, str) else raw.decode(json.detect_encoding(raw), "surrogatepass")
        )
        value = json.loads(text, **numbers)
    except JSONInputError:
        raise
    except RecursionError as exc:
        raise JSONInputError(
            _("The JSON is nested too deeply (at most %(depth)s levels).") % {"depth": max_depth}
        ) from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digits limit
        raise JSONInputError(_("The body is not valid JSON.")) from exc
    _check(value, max_depth, strings=_NUL_ESCAPE in text)
    return value


def request_json(request: HttpRequest, *, empty: Any = None, bounded_numbers: bool = True) -> Any:
    """The request's JSON body (`empty` when there is none), or JSONInputError. A form body
    has already been read as a form (NulRefusalMiddleware), so it is refused, not re-read."""
    try:
        raw = request.body
    except RawPostDataException as exc:
        raise JSONInputError(_("Send the body as JSON, not as a form.")) from exc
    return loads(raw, bounded_numbers=bounded_numbers) if raw else empty
