"""Clinician review of an encounter: diagnoses, claim lines, how the E/M level is chosen, and
signing. Every function here is one transaction on the encounter's row, locked first
(`select_for_update`), so a signature and an edit never interleave: whichever takes the lock
second sees what the first one did.

Who may do what. The rendering clinician edits and signs their own encounters; a practice
admin may edit the coding of the practice's encounters but never signs; the front desk and
patients change nothing. Once signed, an edit needs a reason and is kept as an
EncounterAmendment; once the claim has gone out (exported, paid or denied) nothing is edited
here: a correction is sent as a replacement claim.

Reasons on claim lines are written by our code, never typed: a suggested line keeps the rule's
reason, a line a person changed says who changed it.
"""

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import services
from billing.coding import MDM_WORDS, Basis, suggest
from billing.diagnoses import DiagnosisRefused, for_claim
from billing.models import (
    MAX_DIAGNOSES,
    ClaimLine,
    Encounter,
    EncounterAmendment,
    EncounterDiagnosis,
)
from billing.rules.records import CODE, MODIFIER, PLACE_OF_SERVICE, Mdm
from billing.suggestions import MAX_MODIFIERS, MAX_POINTERS
from billing.x12.claims import MAX_LINES  # an 837P claim carries at most 50 service lines
from telehealth.accounts.models import Role, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action

SENT_STATES = (Encounter.Status.EXPORTED, Encounter.Status.PAID, Encounter.Status.DENIED)
MAX_UNITS = 99
POINTER = re.compile(r"^\d{1,2}$")


class ReviewError(ValueError):
    """Input or state that refuses the change; `message` is shown to the user as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class LineInput:
    """One claim line as the reviewer left it. The charge is never input: it comes from the
    fee schedule."""

    code: str
    modifiers: tuple[str, ...] = ()
    place_of_service: str = ""
    units: int = 1
    diagnosis_pointers: tuple[int, ...] = ()


# --- who may -------------------------------------------------------------------------------


def may_edit(*, user: User, encounter: Encounter) -> bool:
    """Coding may be changed by the rendering clinician and by the practice's admins."""
    if user.practice_id != encounter.practice_id:
        return False
    if user.role == Role.PRACTICE_ADMIN:
        return True
    return user.role == Role.CLINICIAN and renders(user=user, encounter=encounter)


def may_sign(*, user: User, encounter: Encounter) -> bool:
    """Only the clinician who rendered the service signs for it."""
    return user.role == Role.CLINICIAN and renders(user=user, encounter=encounter)


def renders(*, user: User, encounter: Encounter) -> bool:
    provider = encounter.rendering_provider
    return provider is not None and provider.user_id == user.pk


def is_sent(encounter: Encounter) -> bool:
    return encounter.status in SENT_STATES


def is_signed(encounter: Encounter) -> bool:
    return encounter.status == Encounter.Status.SIGNED


# --- the services --------------------------------------------------------------------------


def diagnoses_set(
    *, encounter: Encounter, by: User, codes: Sequence[str], reason: str = ""
) -> Encounter:
    """Replace the encounter's diagnoses by these ICD-10-CM codes, in this order (position 1
    first). Only billable codes; a category is refused naming codes beneath it; at most 12;
    the description comes from the code set. Lines with no pointers then point at the first
    diagnoses (up to four); pointers at a diagnosis that no longer exists are dropped."""
    wanted = [code.strip() for code in codes if code and code.strip()]
    if len(wanted) > MAX_DIAGNOSES:
        raise ReviewError(
            _("A claim carries at most %(max)d diagnoses; %(count)d were given.")
            % {"max": MAX_DIAGNOSES, "count": len(wanted)}
        )
    found = []
    refusals = []
    for code in wanted:
        try:
            found.append(for_claim(code))
        except DiagnosisRefused as refused:
            refusals.append(str(refused))
    if refusals:
        raise ReviewError(" ".join(refusals))
    seen: set[str] = set()
    for diagnosis in found:
        if diagnosis.code in seen:
            raise ReviewError(_("%(code)s is listed twice.") % {"code": diagnosis.code})
        seen.add(diagnosis.code)
    with transaction.atomic():
        encounter = _locked_for_edit(encounter, by=by, reason=reason)
        before = [(d.position, d.code) for d in encounter.diagnoses.all()]
        after = [(position, d.code) for position, d in enumerate(found, start=1)]
        changes = _list_changes(_("Diagnosis"), before, after)
        if not changes:
            return encounter
        encounter.diagnoses.all().delete()
        EncounterDiagnosis.objects.bulk_create(
            EncounterDiagnosis(
                encounter=encounter, position=position, code=d.code, description=d.description
            )
            for position, d in enumerate(found, start=1)
        )
        changes += _repoint_lines(encounter, count=len(found))
        return _finish(encounter, by=by, reason=reason, changes=changes, what="diagnoses")


def lines_set(
    *, encounter: Encounter, by: User, lines: Sequence[LineInput], reason: str = ""
) -> Encounter:
    """Replace the claim lines by these, in this order. A line left as suggested keeps its
    reason; a changed or added line is marked as a person's edit. Charges come from the fee
    schedule times the units."""
    if len(lines) > MAX_LINES:
        raise ReviewError(
            _("A claim carries at most %(max)d lines; %(count)d were given.")
            % {"max": MAX_LINES, "count": len(lines)}
        )
    for position, line in enumerate(lines, start=1):
        _check_line(position, line)
    with transaction.atomic():
        encounter = _locked_for_edit(encounter, by=by, reason=reason)
        positions = set(encounter.diagnoses.values_list("position", flat=True))
        for position, line in enumerate(lines, start=1):
            missing = [p for p in line.diagnosis_pointers if p not in positions]
            if missing:
                raise ReviewError(
                    _("Line %(position)d points at diagnosis %(pointer)d, which does not exist.")
                    % {"position": position, "pointer": missing[0]}
                )
        old = list(encounter.lines.all())
        unused = list(old)
        changes: list[str] = []
        rows = []
        for position, line in enumerate(lines, start=1):
            before = old[position - 1] if position <= len(old) else None
            fee = services.fee_for(
                practice_id=encounter.practice_id, code=line.code, on=encounter.date_of_service
            )
            charge = (fee or Decimal(0)) * line.units
            # A line kept as it was keeps its reason, even when a line above it was removed.
            kept = next((old_line for old_line in unused if _same(old_line, line)), None)
            if kept is not None:
                unused.remove(kept)
            if before is not None and _same(before, line):
                reason_text, suggested = before.reason, before.suggested
            elif kept is not None:
                reason_text, suggested = kept.reason, kept.suggested
                changes.append(
                    _("Line %(position)d: %(before)s → %(after)s")
                    % {
                        "position": position,
                        "before": _describe(_as_input(before)) if before else "-",
                        "after": _describe(line),
                    }
                )
            elif before is not None:
                reason_text, suggested = _("Edited by %(name)s") % {"name": by.full_name}, False
                changes += _line_changes(position, before, line)
            else:
                reason_text, suggested = _("Added by %(name)s") % {"name": by.full_name}, False
                changes.append(
                    _("Line %(position)d added: %(line)s")
                    % {"position": position, "line": _describe(line)}
                )
            rows.append(
                ClaimLine(
                    encounter=encounter,
                    position=position,
                    code=line.code,
                    modifiers=list(line.modifiers),
                    place_of_service=line.place_of_service,
                    units=line.units,
                    charge=charge,
                    diagnosis_pointers=list(line.diagnosis_pointers),
                    reason=reason_text,
                    suggested=suggested,
                )
            )
        for before in old[len(lines) :]:
            changes.append(
                _("Line %(position)d removed: %(line)s")
                % {"position": before.position, "line": _describe(_as_input(before))}
            )
        if not changes:
            return encounter
        encounter.lines.all().delete()
        ClaimLine.objects.bulk_create(rows)
        return _finish(encounter, by=by, reason=reason, changes=changes, what="lines")


def basis_set(
    *, encounter: Encounter, by: User, basis: Basis, mdm: Mdm | None = None, reason: str = ""
) -> Encounter:
    """Choose how the visit's E/M level is chosen, by total time or by the decision-making
    level the clinician picks, and replace the suggested lines with a new suggestion from the
    visit's facts as they are now. Lines a person added or edited are replaced too: the
    suggestion starts again."""
    if basis == Basis.MDM and mdm is None:
        raise ReviewError(_("Pick the level of medical decision making."))
    if basis == Basis.TIME:
        mdm = None
    with transaction.atomic():
        encounter = _locked_for_edit(encounter, by=by, reason=reason)
        if encounter.kind != Encounter.Kind.VISIT or encounter.visit is None:
            raise ReviewError(_("Only a visit is levelled by time or decision making."))
        assessment = services.assess_visit(encounter.visit)
        if assessment.facts is None:
            raise ReviewError(
                _("No coding rules cover %(day)s; the lines cannot be suggested again.")
                % {"day": encounter.date_of_service.isoformat()}
            )
        before_basis = _basis_words(encounter.coding_basis, encounter.mdm_level)
        suggestion = suggest(replace(assessment.facts, basis=basis, mdm=mdm))
        old = [_describe(_as_input(line)) for line in encounter.lines.all()]
        encounter.lines.all().delete()
        services.write_lines(encounter=encounter, suggestion=suggestion)
        encounter.coding_basis = basis.value
        encounter.mdm_level = mdm.value if mdm else ""
        encounter.review_notes = list(suggestion.needs_review)
        encounter.not_billed = [
            {"code": item.code or "", "reason": item.reason} for item in suggestion.not_billed
        ]
        count = encounter.diagnoses.count()
        _repoint_lines(encounter, count=count)
        new = [_describe(_as_input(line)) for line in encounter.lines.all()]
        after_basis = _basis_words(encounter.coding_basis, encounter.mdm_level)
        changes = []
        if before_basis != after_basis:
            changes.append(
                _("Levelled by: %(before)s → %(after)s")
                % {"before": before_basis, "after": after_basis}
            )
        if old != new:
            changes.append(
                _("Lines: %(before)s → %(after)s")
                % {"before": "; ".join(old) or "-", "after": "; ".join(new) or "-"}
            )
        encounter.save(
            update_fields=["coding_basis", "mdm_level", "review_notes", "not_billed", "updated_at"]
        )
        if not changes and is_signed(encounter):
            # Nothing to keep as an amendment, so nothing may change: the lines written again
            # (charges from a fee schedule edited since, reasons) are undone.
            transaction.set_rollback(True)
        else:
            return _finish(encounter, by=by, reason=reason, changes=changes, what="coding basis")
    return Encounter.objects.get(pk=encounter.pk)


def version(encounter: Encounter) -> str:
    """The encounter as last changed, for a form to say which one its user saw."""
    return encounter.updated_at.isoformat()


def sign(
    *,
    encounter: Encounter,
    by: User,
    acknowledged: Collection[str] = (),
    seen: str | None = None,
) -> Encounter:
    """Sign the encounter as its rendering clinician. Refused while anything keeps it from
    being ready, and until every review note was acknowledged by its words. `seen` is the
    `version` the clinician had in front of them: when someone changed the encounter since,
    the signature is refused, so it never covers coding the clinician did not see."""
    with transaction.atomic():
        encounter = _locked(encounter)
        if not may_sign(user=by, encounter=encounter):
            raise PermissionDenied(_("Only the clinician who rendered the service signs it."))
        if encounter.status in (Encounter.Status.SIGNED, *SENT_STATES):
            raise ReviewError(_("This encounter is already signed."))
        if seen is not None and seen != version(encounter):
            raise ReviewError(
                _("The encounter changed since you opened it: check it again, then sign.")
            )
        problems = services.encounter_problems(encounter)
        if problems:
            raise ReviewError(
                _("It cannot be signed yet: %(problems)s") % {"problems": " ".join(problems)}
            )
        unacknowledged = [note for note in encounter.review_notes if note not in acknowledged]
        if unacknowledged:
            raise ReviewError(
                _("Confirm you have reviewed: %(notes)s") % {"notes": " ".join(unacknowledged)}
            )
        encounter.status = Encounter.Status.SIGNED
        encounter.signed_by = by
        encounter.signed_at = timezone.now()
        encounter.save(update_fields=["status", "signed_by", "signed_at", "updated_at"])
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=encounter,
            patient=encounter.patient,
            detail=f"encounter signed, {len(encounter.review_notes)} review notes acknowledged",
        )
    return encounter


# --- inside a transaction ------------------------------------------------------------------


def _locked(encounter: Encounter) -> Encounter:
    """The encounter's row, locked until the transaction ends (a no-op on SQLite, where the
    IMMEDIATE transaction already holds the database's write lock)."""
    return Encounter.objects.select_for_update().get(pk=encounter.pk)


def _locked_for_edit(encounter: Encounter, *, by: User, reason: str) -> Encounter:
    locked = _locked(encounter)
    if not may_edit(user=by, encounter=locked):
        raise PermissionDenied(_("You may not change this encounter's coding."))
    if is_sent(locked):
        raise ReviewError(
            _(
                "This claim has already gone out (%(status)s): it is no longer edited here. "
                "Send a correction as a replacement claim."
            )
            % {"status": locked.get_status_display()}
        )
    if is_signed(locked) and not reason.strip():
        raise ReviewError(_("The encounter is signed: say why you are changing it."))
    return locked


def _finish(
    encounter: Encounter, *, by: User, reason: str, changes: list[str], what: str
) -> Encounter:
    """Recompute problems and status, keep an amendment when signed, and audit."""
    problems = services.encounter_problems(encounter)
    encounter.problems = problems
    if is_signed(encounter):
        if problems:
            raise ReviewError(
                _("A signed encounter must stay complete: %(problems)s")
                % {"problems": " ".join(problems)}
            )
        amendment = EncounterAmendment.objects.create(
            encounter=encounter, changed_by=by, reason=reason.strip(), changes=changes
        )
        detail = f"{what} changed after signing (amendment {amendment.pk})"
    else:
        encounter.status = services.status_for(
            problems=problems, review_notes=encounter.review_notes
        )
        detail = f"{what} changed: {encounter.status}"
    encounter.save(update_fields=["problems", "status", "updated_at"])
    audit.record(
        action=Action.UPDATE, actor=by, obj=encounter, patient=encounter.patient, detail=detail
    )
    return encounter


def _repoint_lines(encounter: Encounter, *, count: int) -> list[str]:
    """Drop pointers at diagnoses beyond `count`; a line left with none points at the first
    diagnoses, up to four. Returns the changes in words."""
    changes = []
    default = list(range(1, min(MAX_POINTERS, count) + 1))
    for line in encounter.lines.all():
        kept = [pointer for pointer in line.diagnosis_pointers if pointer <= count] or default
        if kept != line.diagnosis_pointers:
            if line.diagnosis_pointers:
                changes.append(
                    _("Line %(position)d points at: %(before)s → %(after)s")
                    % {
                        "position": line.position,
                        "before": _numbers(line.diagnosis_pointers),
                        "after": _numbers(kept),
                    }
                )
            line.diagnosis_pointers = kept
            line.save(update_fields=["diagnosis_pointers"])
    return changes


# --- checks and words ----------------------------------------------------------------------


def _fits(pattern: re.Pattern[str], text: str) -> bool:
    """The whole text, in ASCII: X12 carries nothing else, and `$` alone lets a newline by."""
    return text.isascii() and pattern.fullmatch(text) is not None


def _check_line(position: int, line: LineInput) -> None:
    words = {"position": position}
    if not _fits(CODE, line.code):
        raise ReviewError(
            _("Line %(position)d: %(code)s is not a five-character CPT or HCPCS code.")
            % {**words, "code": line.code or "-"}
        )
    if len(line.modifiers) > MAX_MODIFIERS:
        raise ReviewError(_("Line %(position)d: at most four modifiers.") % words)
    bad = [modifier for modifier in line.modifiers if not _fits(MODIFIER, modifier)]
    if bad:
        raise ReviewError(
            _("Line %(position)d: %(modifier)s is not a two-character modifier.")
            % {**words, "modifier": bad[0]}
        )
    if len(set(line.modifiers)) != len(line.modifiers):
        raise ReviewError(_("Line %(position)d: a modifier is repeated.") % words)
    if not _fits(PLACE_OF_SERVICE, line.place_of_service):
        raise ReviewError(
            _("Line %(position)d: the place of service is two digits, such as 10 or 02.") % words
        )
    if not 1 <= line.units <= MAX_UNITS:
        raise ReviewError(
            _("Line %(position)d: units from 1 to %(max)d.") % {**words, "max": MAX_UNITS}
        )
    if len(line.diagnosis_pointers) > MAX_POINTERS:
        raise ReviewError(_("Line %(position)d: at most four diagnosis pointers.") % words)
    if len(set(line.diagnosis_pointers)) != len(line.diagnosis_pointers):
        raise ReviewError(_("Line %(position)d: a diagnosis pointer is repeated.") % words)


def _same(line: ClaimLine, wanted: LineInput) -> bool:
    return _as_input(line) == wanted


def _as_input(line: ClaimLine) -> LineInput:
    return LineInput(
        code=line.code,
        modifiers=tuple(line.modifiers),
        place_of_service=line.place_of_service,
        units=line.units,
        diagnosis_pointers=tuple(line.diagnosis_pointers),
    )


def _describe(line: LineInput) -> str:
    """A line in one short phrase: "99214-95 ×1 POS 10 → 1,2"."""
    code = "-".join((line.code, *line.modifiers))
    text = f"{code} ×{line.units} POS {line.place_of_service}"
    if line.diagnosis_pointers:
        text += f" → {_numbers(line.diagnosis_pointers)}"
    return text


def _line_changes(position: int, before: ClaimLine, after: LineInput) -> list[str]:
    old = _as_input(before)
    fields = (
        (_("code"), old.code, after.code),
        (_("modifiers"), " ".join(old.modifiers) or "-", " ".join(after.modifiers) or "-"),
        (_("place of service"), old.place_of_service, after.place_of_service),
        (_("units"), str(old.units), str(after.units)),
        (
            _("diagnosis pointers"),
            _numbers(old.diagnosis_pointers),
            _numbers(after.diagnosis_pointers),
        ),
    )
    return [
        _("Line %(position)d %(field)s: %(before)s → %(after)s")
        % {"position": position, "field": name, "before": was, "after": now}
        for name, was, now in fields
        if was != now
    ]


def _list_changes(
    label: str, before: list[tuple[int, str]], after: list[tuple[int, str]]
) -> list[str]:
    """Sentences for a numbered list that changed: "Diagnosis 2: E11.9 → E11.65"."""
    old, new = dict(before), dict(after)
    changes = []
    for position in sorted(old.keys() | new.keys()):
        words = {"label": label, "position": position}
        if position not in new:
            changes.append(
                _("%(label)s %(position)d removed: %(code)s") % {**words, "code": old[position]}
            )
        elif position not in old:
            changes.append(
                _("%(label)s %(position)d added: %(code)s") % {**words, "code": new[position]}
            )
        elif old[position] != new[position]:
            changes.append(
                _("%(label)s %(position)d: %(before)s → %(after)s")
                % {**words, "before": old[position], "after": new[position]}
            )
    return changes


def _basis_words(basis: str, mdm: str) -> str:
    if basis == Basis.MDM and mdm:
        return _("decision making (%(level)s)") % {"level": str(MDM_WORDS[Mdm(mdm)]).lower()}
    return _("time")


def _numbers(numbers: Sequence[int]) -> str:
    return ",".join(str(number) for number in numbers) or "-"


def parse_pointers(text: str) -> tuple[int, ...]:
    """Diagnosis pointers as typed: "1 2", "1,2"."""
    parts = [part for part in re.split(r"[\s,]+", text.strip()) if part]
    bad = [part for part in parts if not POINTER.match(part)]
    if bad:
        raise ReviewError(
            _("%(value)s is not a diagnosis number; give numbers such as 1 2.") % {"value": bad[0]}
        )
    return tuple(int(part) for part in parts)


def parse_modifiers(text: str) -> tuple[str, ...]:
    return tuple(part.upper() for part in re.split(r"[\s,]+", text.strip()) if part)
