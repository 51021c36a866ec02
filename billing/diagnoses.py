"""ICD-10-CM diagnoses for encounters and claims: the code set shipped by the simple-icd-10-cm
package (CMS's tabular list, April 2026 release), looked up and searched by code and by words.
Never a hand-typed list. Only billable codes (leaves of the tabular list, such as E11.9 or
S52.521A) go on a claim; a category such as E11 is found by search but refused on a claim with
the codes beneath it named."""

import importlib
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from types import ModuleType

CODE_SET = "ICD-10-CM, April 2026 release"
CODE_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{0,4})?$")


def code_set() -> ModuleType:
    """The simple-icd-10-cm package, imported on first use: it reads the whole tabular list as
    it is imported (about 2.5 s of CPU), which every process importing this module paid before,
    whether it looked up a diagnosis or not (manage.py commands, workers, `check`). The web
    application loads the package as it starts (telehealth/asgi.py), so no request waits."""
    return importlib.import_module("simple_icd_10_cm")


class DiagnosisRefused(ValueError):
    pass


@dataclass(frozen=True)
class Diagnosis:
    code: str  # with its dot, as clinicians read it: E11.9
    description: str
    billable: bool

    @property
    def claim_code(self) -> str:
        """As X12 carries it in HI: no dot."""
        return self.code.replace(".", "")


@dataclass(frozen=True)
class _Entry:
    diagnosis: Diagnosis
    bare_code: str
    words: str


@cache
def _entries() -> tuple[_Entry, ...]:
    """Every category and code of the tabular list (not its chapters and blocks), in code order."""
    icd = code_set()
    entries = []
    for code in icd.get_all_codes(with_dots=True):
        if icd.is_chapter_or_block(code):
            continue
        description = icd.get_description(code)
        diagnosis = Diagnosis(code=code, description=description, billable=icd.is_leaf(code))
        entries.append(_Entry(diagnosis, code.replace(".", ""), description.casefold()))
    return tuple(entries)


def _normalised(code: str) -> str:
    code = code.strip().upper()
    bare = code.replace(".", "")
    return f"{bare[:3]}.{bare[3:]}" if len(bare) > 3 else bare


def lookup(code: str) -> Diagnosis | None:
    """The diagnosis for a code written with or without its dot, any case; None if unknown."""
    if not isinstance(code, str) or not CODE_SHAPE.match(code.strip().upper()):
        return None
    normal = _normalised(code)
    icd = code_set()
    if not icd.is_valid_item(normal) or icd.is_chapter_or_block(normal):
        return None
    return Diagnosis(normal, icd.get_description(normal), icd.is_leaf(normal))


def for_claim(code: str) -> Diagnosis:
    """A code a claim can carry, or DiagnosisRefused saying why and what to pick instead."""
    diagnosis = lookup(code)
    if diagnosis is None:
        raise DiagnosisRefused(f"{code.strip()!r} is not an ICD-10-CM code ({CODE_SET}).")
    if not diagnosis.billable:
        below = code_set().get_children(diagnosis.code)[:3]
        raise DiagnosisRefused(
            f"{diagnosis.code} ({diagnosis.description}) is a category; a claim needs a more "
            f"specific code, such as {', '.join(below)}."
        )
    return diagnosis


@lru_cache(maxsize=512)
def search(query: str, *, limit: int = 20) -> tuple[Diagnosis, ...]:
    """Codes that start with the query (E11, e11.6, E116), else descriptions holding every word
    of it (\"diabetes type 2 kidney\"). Billable codes first, then the shorter descriptions: the
    general condition before its many variants."""
    text = " ".join(query.split()).casefold()
    if not text:
        return ()
    bare = text.upper().replace(".", "")
    if CODE_SHAPE.match(text.upper()) or re.fullmatch(r"[A-Z][0-9]?", bare):
        found = [e for e in _entries() if e.bare_code.startswith(bare)]
        found.sort(key=lambda e: (len(e.bare_code) != len(bare), not e.diagnosis.billable))
    else:
        words = text.split()
        found = [e for e in _entries() if all(word in e.words for word in words)]
        found.sort(key=lambda e: (not e.diagnosis.billable, len(e.words), e.bare_code))
    return tuple(e.diagnosis for e in found[:limit])
