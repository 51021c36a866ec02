"""Validation of X12 documents by pyx12 against its maps of the implementation guides
(837P 005010X222A1, 835 005010X221A1, and the 5010 envelopes).

pyx12 reports errors per envelope, segment and element in a JSON document; we flatten them
into `X12Error`s and add the loop each segment was read in (2300, 2400...), which pyx12
knows while walking but leaves out of that report.
"""

from __future__ import annotations

import io
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import pyx12.params
from pyx12.x12n_document import x12n_document

# pyx12 logs each error it also reports; our callers get the errors as values instead.
_pyx12_logger = logging.getLogger("pyx12")
_pyx12_logger.addHandler(logging.NullHandler())
_pyx12_logger.propagate = False


@dataclass(frozen=True)
class X12Error:
    message: str
    segment: str = ""
    loop: str = ""
    line: int | None = None
    element: str = ""
    code: str = ""

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (
                f"line {self.line}" if self.line else "",
                f"loop {self.loop}" if self.loop else "",
                self.element or self.segment,
            )
            if part
        )
        return f"{where}: {self.message}" if where else self.message


class X12ValidationError(ValueError):
    """A document that pyx12 does not accept; `errors` lists why."""

    def __init__(self, errors: list[X12Error]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(error) for error in errors[:5]))


def validate(text: str) -> list[X12Error]:
    """Every error pyx12 finds in `text`; an empty list means the document is valid."""
    if not text.lstrip().startswith("ISA"):
        return [X12Error(message="Not an X12 document: it does not start with an ISA segment.")]
    report = io.StringIO()
    loops_by_line: dict[int, str] = {}

    def note_loop(segment: Any, source: Any, node: Any, valid: bool) -> None:
        if node is not None and node.parent is not None:
            loops_by_line[source.get_cur_line()] = node.parent.id

    logged = _ErrorLog()
    _pyx12_logger.addHandler(logged)
    try:
        # ParamsBase: the maps shipped with pyx12, no configuration file from the home dir.
        valid = x12n_document(
            pyx12.params.ParamsBase(),
            io.StringIO(text),
            None,
            None,
            fd_json=report,
            callback=note_loop,
        )
    finally:
        _pyx12_logger.removeHandler(logged)
    errors = _flatten(json.loads(report.getvalue() or "{}"), loops_by_line)
    if not valid and not errors:
        # Errors in ISA/GS/ST elements are logged by pyx12 but left out of its report.
        errors = [X12Error(message=_without_stream_name(message)) for message in logged.messages]
    if not valid and not errors:
        errors.append(X12Error(message="pyx12 rejected the document without saying where."))
    return errors


def _without_stream_name(message: str) -> str:
    return re.sub(r'^"<[^>]*>" ', "The document ", message)


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _flatten(document: dict[str, Any], loops_by_line: dict[int, str]) -> list[X12Error]:
    errors: list[X12Error] = []
    for isa in document.get("interchanges", []):
        errors += _envelope_errors(isa, "ISA", loops_by_line)
        for gs in isa.get("groups", []):
            errors += _envelope_errors(gs, "GS", loops_by_line)
            for st in gs.get("transactions", []):
                errors += _envelope_errors(st, "ST", loops_by_line)
                for seg in st.get("segments", []):
                    errors += _segment_errors(seg, loops_by_line)
    return errors


def _envelope_errors(
    node: dict[str, Any], segment: str, loops_by_line: dict[int, str]
) -> list[X12Error]:
    line = node.get("cur_line")
    return [
        X12Error(
            message=error["err_str"],
            segment=segment,
            loop=loops_by_line.get(line, "") if line else "",
            line=line,
            code=str(error["err_cde"]),
        )
        for error in node.get("errors", [])
    ]


def _segment_errors(seg: dict[str, Any], loops_by_line: dict[int, str]) -> list[X12Error]:
    line = seg.get("cur_line")
    loop = loops_by_line.get(line, "") if line else ""
    errors = [
        X12Error(
            message=error["err_str"],
            segment=seg["seg_id"],
            loop=loop,
            line=line,
            code=str(error["err_cde"]),
        )
        for error in seg.get("errors", [])
    ]
    for element in seg.get("elements", []):
        position = f"{seg['seg_id']}{element['ele_pos']:02d}"
        if element.get("subele_pos"):
            position += f"-{element['subele_pos']}"
        errors += [
            X12Error(
                message=error["err_str"],
                segment=seg["seg_id"],
                loop=loop,
                line=line,
                element=position,
                code=str(error["err_cde"]),
            )
            for error in element.get("errors", [])
        ]
    return errors
