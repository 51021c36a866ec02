"""The X12 interchange envelope and the writing of segments, shared by 837P and 835.

ISA/IEA (interchange), GS/GE (functional group) and ST/SE (transaction set) follow the
5010 control segments (X12 005010, as mapped by pyx12's `x12.control.00501.xml`):
ISA fields are fixed width, ISA13 = IEA02, GS06 = GE02, ST02 = SE02, SE01 counts ST..SE,
GE01 counts transaction sets and IEA01 counts groups.

We write `*` between elements, `:` between components, `^` as the repetition separator and
`~` after each segment. X12 has no escape sequence, so text holding one of them is refused
rather than silently altered: a name such as "SMITH*JONES" would otherwise shift every
element after it.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from decimal import Decimal

ELEMENT = "*"
COMPONENT = ":"
REPETITION = "^"
TERMINATOR = "~"
DELIMITERS = (ELEMENT, COMPONENT, REPETITION, TERMINATOR)

MAX_CONTROL_NUMBER = 999_999_999


class X12InputError(ValueError):
    """Data that cannot be written as X12 (a delimiter in a name, too many diagnoses...)."""


def checked_text(value: str, *, field: str) -> str:
    """`value` stripped and without accents (X12's character set is ASCII: Núñez is sent as
    Nunez), refused when empty, holding an X12 delimiter or any other non-ASCII character."""
    text = _without_accents(value.strip())
    if not text:
        raise X12InputError(f"{field} is empty.")
    found = [d for d in DELIMITERS if d in text]
    if found:
        raise X12InputError(
            f"{field} {text!r} contains the X12 delimiter {found[0]!r}; "
            f"remove {' '.join(repr(d) for d in DELIMITERS)} from it."
        )
    if any(not 32 <= ord(char) < 127 for char in text):
        raise X12InputError(
            f"{field} {text!r} contains a character outside X12's character set (ASCII)."
        )
    return text


def _without_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def optional_text(value: str, *, field: str) -> str:
    return checked_text(value, field=field) if value.strip() else ""


def segment(*elements: str) -> str:
    """One segment; trailing empty elements are dropped, as X12 requires."""
    values = list(elements)
    while values and values[-1] == "":
        values.pop()
    return ELEMENT.join(values) + TERMINATOR


def composite(*components: str) -> str:
    values = list(components)
    while values and values[-1] == "":
        values.pop()
    return COMPONENT.join(values)


def amount(value: Decimal) -> str:
    """A monetary amount (X12 type R) with cents."""
    return f"{value.quantize(Decimal('0.01')):f}"


def quantity(value: Decimal) -> str:
    """A quantity (X12 type R) without needless trailing zeros: 1, 1.5."""
    text = f"{value.normalize():f}"
    return text


def ccyymmdd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _fixed(value: str, width: int, *, field: str) -> str:
    text = checked_text(value, field=field)
    if len(text) > width:
        raise X12InputError(f"{field} {text!r} is longer than {width} characters.")
    return text.ljust(width)


def _check_control_number(control_number: int) -> None:
    if not 1 <= control_number <= MAX_CONTROL_NUMBER:
        raise X12InputError(f"Control number {control_number} is outside 1..{MAX_CONTROL_NUMBER}.")


def interchange(
    *,
    sender_id: str,
    receiver_id: str,
    functional_id: str,
    transaction_set_id: str,
    guide_version: str,
    body: Sequence[str],
    control_number: int,
    now: dt.datetime,
    production: bool,
    guide_in_st: bool,
) -> str:
    """Wrap the segments of one transaction set (between ST and SE) in ST/GS/ISA envelopes.

    One control number serves the three envelopes; it must be unique per sender, which the
    caller guarantees (a database sequence, later). `guide_in_st` writes the guide version in
    ST03, which the 837P requires and the 835 forbids."""
    _check_control_number(control_number)
    isa13 = f"{control_number:09d}"
    st02 = f"{control_number % 10_000:04d}"
    transaction = [
        segment("ST", transaction_set_id, st02, guide_version if guide_in_st else ""),
        *body,
    ]
    transaction.append(segment("SE", str(len(transaction) + 1), st02))
    isa = segment(
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        _fixed(sender_id, 15, field="Sender id"),
        "ZZ",
        _fixed(receiver_id, 15, field="Receiver id"),
        now.strftime("%y%m%d"),
        now.strftime("%H%M"),
        REPETITION,
        "00501",
        isa13,
        "0",
        "P" if production else "T",
        COMPONENT,
    )
    gs = segment(
        "GS",
        functional_id,
        checked_text(sender_id, field="Sender id"),
        checked_text(receiver_id, field="Receiver id"),
        ccyymmdd(now.date()),
        now.strftime("%H%M"),
        str(control_number),
        "X",
        guide_version,
    )
    trailer = [segment("GE", "1", str(control_number)), segment("IEA", "1", isa13)]
    return "\n".join([isa, gs, *transaction, *trailer]) + "\n"
