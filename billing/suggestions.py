"""What code suggestion hands back: claim lines with their reasons, plus what a person must
check and what documentation does not support. Plain values, shared by visits and monitoring."""

from dataclasses import dataclass

from django.utils.translation import gettext as _

MAX_MODIFIERS = 4  # an 837P service line carries at most four procedure modifiers
MAX_POINTERS = 4  # and points at most at four diagnoses


@dataclass(frozen=True)
class SuggestedLine:
    """One claim line. `diagnosis_pointers` stay empty until diagnoses are attached."""

    code: str
    modifiers: tuple[str, ...]
    place_of_service: str
    units: int
    reason: str
    diagnosis_pointers: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.modifiers) > MAX_MODIFIERS:
            raise ValueError(f"{self.code}: at most {MAX_MODIFIERS} modifiers")
        if len(self.diagnosis_pointers) > MAX_POINTERS:
            raise ValueError(f"{self.code}: at most {MAX_POINTERS} diagnosis pointers")
        if self.units < 1:
            raise ValueError(f"{self.code}: at least one unit")


@dataclass(frozen=True)
class NotBilled:
    """A line the documentation does not support; `code` is what it would have been, if any."""

    code: str | None
    reason: str


@dataclass(frozen=True)
class Suggestion:
    lines: tuple[SuggestedLine, ...] = ()
    needs_review: tuple[str, ...] = ()
    not_billed: tuple[NotBilled, ...] = ()

    @property
    def codes(self) -> list[tuple[str, int]]:
        return [(line.code, line.units) for line in self.lines]

    def __add__(self, other: "Suggestion") -> "Suggestion":
        return Suggestion(
            lines=self.lines + other.lines,
            needs_review=self.needs_review + other.needs_review,
            not_billed=self.not_billed + other.not_billed,
        )


def minute_span(start: int, following: int | None) -> str:
    """A range of minutes in words: up to the next level's start, or open at the top."""
    if following is None:
        return _("%(start)d minutes or more") % {"start": start}
    return _("%(start)d-%(end)d minutes") % {"start": start, "end": following - 1}
