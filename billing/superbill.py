"""The superbill: one signed encounter as a PDF a patient can send to their insurer with their
own claim (practice and its billing identity, rendering provider, patient, insurance from
intake, diagnoses, lines, totals, the signature).

`superbill_for` gathers what is printed; `superbill_pdf` only draws it, so the drawing is
tested without a database. The text is real PDF text (never an image), so the insurer's
software and screen readers can read it. It is in English whatever the patient's language:
it is written for the US insurer who reads the claim, like the 837P it stands in for.

The font is a TrueType one embedded in the file (DejaVu Sans where the system has it, else the
Bitstream Vera that ships with reportlab), not the PDF's built-in Helvetica, whose encoding
has no room for names outside Western European alphabets; embedded subsets also carry the
Unicode map that makes the text extractable."""

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import reportlab
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from billing.models import BillingProfile, Encounter
from billing.remittances import PATIENT_RESPONSIBILITY
from intake.models import InsuranceCard
from intake.selectors import insurance_card_on

# The CMS place-of-service code set's names for the places a practice like ours bills.
PLACES_OF_SERVICE = {
    "02": "Telehealth provided other than in patient's home",
    "10": "Telehealth provided in patient's home",
    "11": "Office",
    "12": "Home",
    "19": "Off campus outpatient hospital",
    "22": "On campus outpatient hospital",
    "50": "Federally qualified health center",
    "72": "Rural health clinic",
}
MODALITIES = {"video": "Video visit", "audio_only": "Audio-only visit", "in_person": "In person"}
RELATIONSHIPS = {"self": "Self", "spouse": "Spouse", "child": "Child", "other": "Other"}

INK = colors.HexColor("#1d2733")
MUTED = colors.HexColor("#5b6675")
RULE = colors.HexColor("#c9d1db")
WASH = colors.HexColor("#eef2f6")
ACCENT = colors.HexColor("#1f5f8b")


@dataclass(frozen=True)
class Insurance:
    payer: str
    member_id: str
    group_number: str
    subscriber: str
    relationship: str


@dataclass(frozen=True)
class Diagnosis:
    position: int
    code: str
    description: str


@dataclass(frozen=True)
class Line:
    code: str
    modifiers: tuple[str, ...]
    place_of_service: str
    units: int
    charge: Decimal
    pointers: tuple[int, ...]


@dataclass(frozen=True)
class Superbill:
    claim_number: str
    practice_name: str
    practice_address: tuple[str, ...]
    practice_phone: str
    group_npi: str
    ein: str
    taxonomy: str
    provider_name: str
    provider_npi: str
    provider_specialty: str
    patient_name: str
    patient_birth_date: date
    patient_sex: str
    patient_address: tuple[str, ...]
    insurance: Insurance | None
    date_of_service: date
    period: tuple[date, date] | None
    modality: str
    patient_state: str
    diagnoses: tuple[Diagnosis, ...]
    lines: tuple[Line, ...]
    paid: Decimal | None
    signed_by: str
    signed_at: datetime  # aware, in the practice's zone
    issued_on: date
    # What the payer's remittance took off the charges that the patient does not owe:
    # adjustments of every group but PR (contractual write-offs, denials the practice bears).
    adjusted: Decimal = Decimal(0)

    @property
    def total_charge(self) -> Decimal:
        return sum((line.charge for line in self.lines), Decimal(0))

    @property
    def balance(self) -> Decimal:
        return self.total_charge - (self.paid or Decimal(0)) - self.adjusted

    @property
    def places_of_service(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(line.place_of_service for line in self.lines))


def superbill_for(encounter: Encounter) -> Superbill:
    """What the superbill of a signed encounter says. The caller has the encounter from
    `billing.selectors.access_superbill`, so it is signed and the user may read it."""
    practice = encounter.practice
    # Selected with the encounter by access_superbill; a practice may not have set it up yet.
    profile: BillingProfile | None = getattr(practice, "billing_profile", None)
    patient = encounter.patient
    provider = encounter.rendering_provider
    zone = practice.zone
    end_of_service_day = datetime.combine(
        encounter.date_of_service + timedelta(days=1), time.min, tzinfo=zone
    )
    card = insurance_card_on(patient, before=end_of_service_day)
    signer = encounter.signed_by
    assert encounter.signed_at is not None and signer is not None  # only signed ones get here
    period = None
    if encounter.period_start and encounter.period_end:
        period = (encounter.period_start, encounter.period_end)
    return Superbill(
        claim_number=encounter.claim_number,
        practice_name=profile.billing_name if profile else practice.name,
        practice_address=_profile_address(profile) if profile else _lines(practice.address),
        practice_phone=_phone(practice.phone),
        group_npi=profile.group_npi if profile else "",
        ein=_ein(profile.ein) if profile else "",
        taxonomy=profile.taxonomy if profile else "",
        provider_name=provider.display_name if provider else "",
        provider_npi=provider.npi if provider else "",
        provider_specialty=provider.specialty if provider else "",
        patient_name=patient.legal_name,
        patient_birth_date=patient.date_of_birth,
        patient_sex=patient.get_sex_display() if patient.sex != "unknown" else "",
        patient_address=_patient_address(patient.address or {}),
        insurance=_insurance(card),
        date_of_service=encounter.date_of_service,
        period=period,
        modality=MODALITIES.get(encounter.modality, ""),
        patient_state=encounter.patient_state,
        diagnoses=tuple(
            Diagnosis(d.position, d.code, d.description) for d in encounter.diagnoses.all()
        ),
        lines=tuple(
            Line(
                code=line.code,
                modifiers=tuple(line.modifiers),
                place_of_service=line.place_of_service,
                units=line.units,
                charge=line.charge,
                pointers=tuple(line.diagnosis_pointers),
            )
            for line in encounter.lines.all()
        ),
        paid=encounter.paid_amount,
        adjusted=_adjusted(encounter) if encounter.paid_amount is not None else Decimal(0),
        signed_by=_signer_name(signer),
        signed_at=timezone.localtime(encounter.signed_at, zone),
        issued_on=timezone.localdate(timezone=zone),
    )


def _adjusted(encounter: Encounter) -> Decimal:
    """The remittance's line adjustments that are not the patient's responsibility (group
    PR: deductible, coinsurance, co-payment): with the paid amount, what the patient does not
    owe of the charges."""
    return sum(
        (
            Decimal(adjustment["amount"])
            for line in encounter.lines.all()
            for adjustment in line.adjustments
            if adjustment["group"] != PATIENT_RESPONSIBILITY
        ),
        Decimal(0),
    )


def superbill_filename(encounter: Encounter) -> str:
    return f"superbill-{encounter.date_of_service:%Y-%m-%d}-{encounter.claim_number}.pdf"


def _signer_name(user: Any) -> str:
    provider = getattr(user, "provider", None)
    return provider.display_name if provider is not None else user.full_name


def _insurance(card: InsuranceCard | None) -> Insurance | None:
    if card is None:
        return None
    return Insurance(
        payer=card.payer,
        member_id=card.member_id,
        group_number=card.group_number,
        subscriber=card.subscriber_name,
        relationship=RELATIONSHIPS.get(card.relationship, card.relationship),
    )


def _profile_address(profile: BillingProfile) -> tuple[str, ...]:
    return (profile.address_line, f"{profile.city}, {profile.state} {_zip(profile.zip_code)}")


def _patient_address(address: dict) -> tuple[str, ...]:
    street = [str(address.get(key, "")).strip() for key in ("line1", "line2")]
    city = str(address.get("city", "")).strip()
    region = " ".join(
        part for part in (address.get("state", ""), _zip(address.get("postal_code", ""))) if part
    )
    last = ", ".join(part for part in (city, region) if part)
    return tuple(line for line in (*street, last) if line)


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _zip(code: str) -> str:
    code = str(code or "").strip()
    return f"{code[:5]}-{code[5:]}" if len(code) == 9 and code.isdigit() else code


def _ein(ein: str) -> str:
    return f"{ein[:2]}-{ein[2:]}" if len(ein) == 9 else ein


def _phone(phone: str) -> str:
    digits = phone.removeprefix("+1")
    if len(digits) == 10 and digits.isdigit():
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return phone


def _day(day: date) -> str:
    return f"{day:%m/%d/%Y}"


def _money(amount: Decimal) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


# Drawing ---------------------------------------------------------------------------------

FONT, BOLD = "SuperbillSans", "SuperbillSans-Bold"
_SYSTEM_FONTS = Path("/usr/share/fonts/truetype/dejavu")
_BUNDLED_FONTS = Path(reportlab.__file__).parent / "fonts"


def _register_fonts() -> None:
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    regular, bold = _SYSTEM_FONTS / "DejaVuSans.ttf", _SYSTEM_FONTS / "DejaVuSans-Bold.ttf"
    if not (regular.exists() and bold.exists()):
        regular, bold = _BUNDLED_FONTS / "Vera.ttf", _BUNDLED_FONTS / "VeraBd.ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(regular)))
    pdfmetrics.registerFont(TTFont(BOLD, str(bold)))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12, textColor=INK)
    return {
        "body": base,
        "small": ParagraphStyle("small", base, fontSize=8, leading=10.5, textColor=MUTED),
        "label": ParagraphStyle("label", base, fontName=BOLD, fontSize=7.5, textColor=MUTED),
        "practice": ParagraphStyle("practice", base, fontName=BOLD, fontSize=15, leading=18),
        "title": ParagraphStyle(
            "title",
            base,
            fontName=BOLD,
            fontSize=18,
            leading=22,
            alignment=TA_RIGHT,
            textColor=ACCENT,
        ),  # fmt: skip
        "right": ParagraphStyle("right", base, alignment=TA_RIGHT),
        "section": ParagraphStyle(
            "section",
            base,
            fontName=BOLD,
            fontSize=10.5,
            leading=14,
            spaceBefore=10,
            spaceAfter=4,
            textColor=ACCENT,
        ),  # fmt: skip
        "cell": ParagraphStyle("cell", base, fontSize=8.5, leading=11),
        "cell_right": ParagraphStyle("cell_right", base, fontSize=8.5, leading=11, alignment=2),
        "head": ParagraphStyle("head", base, fontName=BOLD, fontSize=7.5, leading=10),
        "head_right": ParagraphStyle("head_right", base, fontName=BOLD, fontSize=7.5, alignment=2),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _box(title: str, rows: Sequence[tuple[str, str | None]], styles: dict, width: float) -> Table:
    """A titled box of label/value pairs; long values wrap inside it. A value of None is an
    optional fact the practice does not have: its row is left out rather than shown empty."""
    body: list[list[Any]] = [[_p(title.upper(), styles["label"]), ""]]
    for label, value in rows:
        if value is None:
            continue
        body.append([_p(label, styles["small"]), _p(value or "—", styles["body"])])
    table = Table(body, colWidths=[1.2 * inch, width - 1.2 * inch])
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("SPAN", (0, 0), (1, 0)),
                ("BACKGROUND", (0, 0), (1, 0), WASH),
                ("BOX", (0, 0), (-1, -1), 0.6, RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                ("LEFTPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    return table


def _pair(left: Table, right: Table, width: float) -> Table:
    gap = 0.2 * inch
    table = Table([[left, "", right]], colWidths=[(width - gap) / 2, gap, (width - gap) / 2])
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return table


def _grid(rows: list[list[Any]], widths: list[float]) -> Table:
    """A table with a header row repeated on every page it runs onto."""
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("BACKGROUND", (0, 0), (-1, 0), WASH),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, RULE),
                ("LINEBELOW", (0, 1), (-1, -1), 0.4, RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


class _NumberedCanvas(Canvas):
    """Draws "Page n of m" and the running footer once every page is known."""

    def __init__(self, *args: Any, footer: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._pages: list[dict] = []

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()  # type: ignore[attr-defined]  # reportlab's own, not in the stubs

    def save(self) -> None:
        total = len(self._pages)
        for number, page in enumerate(self._pages, start=1):
            self.__dict__.update(page)
            self.setFont(FONT, 7.5)
            self.setFillColor(MUTED)
            self.setStrokeColor(RULE)
            self.line(0.75 * inch, 0.62 * inch, LETTER[0] - 0.75 * inch, 0.62 * inch)
            self.drawString(0.75 * inch, 0.45 * inch, self._footer)
            self.drawRightString(LETTER[0] - 0.75 * inch, 0.45 * inch, f"Page {number} of {total}")
            super().showPage()
        super().save()


def superbill_pdf(bill: Superbill) -> bytes:
    _register_fonts()
    styles = _styles()
    width = LETTER[0] - 1.5 * inch
    story: list[Flowable] = []

    practice_lines = [*bill.practice_address, bill.practice_phone]
    header = Table(
        [
            [
                [
                    _p(bill.practice_name, styles["practice"]),
                    _p("\n".join(line for line in practice_lines if line), styles["body"]),
                ],
                [
                    _p("Superbill", styles["title"]),
                    _p("Statement of services for insurance", styles["right"]),
                    _p(f"Claim reference {bill.claim_number}", styles["right"]),
                    _p(f"Issued {_day(bill.issued_on)}", styles["right"]),
                ],
            ]
        ],
        colWidths=[width * 0.58, width * 0.42],
    )
    header.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("LINEBELOW", (0, 0), (-1, 0), 1.2, ACCENT),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
            ]
        )
    )
    story += [header, Spacer(1, 10)]

    half = (width - 0.2 * inch) / 2
    billing = _box(
        "Billing provider",
        [
            ("Name", bill.practice_name),
            ("Group NPI", bill.group_npi),
            ("Tax ID (EIN)", bill.ein),
            ("Taxonomy", bill.taxonomy),
        ],
        styles,
        half,
    )
    rendering = _box(
        "Rendering provider",
        [
            ("Name", bill.provider_name),
            ("NPI", bill.provider_npi),
            ("Specialty", bill.provider_specialty or None),
        ],
        styles,
        half,
    )
    patient = _box(
        "Patient",
        [
            ("Name", bill.patient_name),
            ("Date of birth", _day(bill.patient_birth_date)),
            ("Sex", bill.patient_sex or None),
            ("Address", "\n".join(bill.patient_address)),
        ],
        styles,
        half,
    )
    card = bill.insurance
    insurance = _box(
        "Insurance",
        [
            ("Payer", card.payer),
            ("Member ID", card.member_id),
            ("Group number", card.group_number or None),
            ("Subscriber", card.subscriber),
            ("Relationship", card.relationship),
        ]
        if card
        else [("Payer", "No insurance card on file")],
        styles,
        half,
    )
    story += [_pair(billing, rendering, width), Spacer(1, 8)]
    story += [_pair(patient, insurance, width)]

    places = "; ".join(
        f"{code} {PLACES_OF_SERVICE[code]}" if code in PLACES_OF_SERVICE else code
        for code in bill.places_of_service
    )
    visit_rows = [("Date of service", _day(bill.date_of_service))]
    if bill.period:
        visit_rows.append(("Service period", f"{_day(bill.period[0])} to {_day(bill.period[1])}"))
    visit_rows.append(("Place of service", places))
    if bill.modality:
        visit_rows.append(("Visit type", bill.modality))
    if bill.patient_state:
        visit_rows.append(("Patient located in", bill.patient_state))
    story += [Spacer(1, 8), _box("Service", visit_rows, styles, width)]

    story.append(_p("Diagnoses (ICD-10-CM)", styles["section"]))
    diagnosis_rows: list[list[Any]] = [
        [_p("#", styles["head"]), _p("Code", styles["head"]), _p("Description", styles["head"])]
    ]
    for diagnosis in bill.diagnoses:
        diagnosis_rows.append(
            [
                _p(str(diagnosis.position), styles["cell"]),
                _p(diagnosis.code, styles["cell"]),
                _p(diagnosis.description, styles["cell"]),
            ]
        )
    if not bill.diagnoses:
        diagnosis_rows.append(["", "", _p("No diagnosis recorded", styles["cell"])])
    story.append(_grid(diagnosis_rows, [0.4 * inch, 1.0 * inch, width - 1.4 * inch]))

    story.append(CondPageBreak(1.2 * inch))
    story.append(_p("Services", styles["section"]))
    heads = ["Date", "CPT/HCPCS", "Modifiers", "POS", "Units", "Diagnosis pointer"]
    line_rows: list[list[Any]] = [
        [_p(head, styles["head"]) for head in heads] + [_p("Charge", styles["head_right"])]
    ]
    for line in bill.lines:
        line_rows.append(
            [
                _p(_day(bill.date_of_service), styles["cell"]),
                _p(line.code, styles["cell"]),
                _p(" ".join(line.modifiers), styles["cell"]),
                _p(line.place_of_service, styles["cell"]),
                _p(str(line.units), styles["cell"]),
                _p(", ".join(str(pointer) for pointer in line.pointers), styles["cell"]),
                _p(_money(line.charge), styles["cell_right"]),
            ]
        )
    fixed = [0.85, 0.9, 0.85, 0.45, 0.5, 1.1]
    widths = [w * inch for w in fixed] + [width - sum(fixed) * inch]
    story.append(_grid(line_rows, widths))

    totals: list[list[Any]] = [
        [_p("Total charges", styles["right"]), _p(_money(bill.total_charge), styles["right"])]
    ]
    if bill.paid is not None:
        totals.append(
            [_p("Paid by insurance", styles["right"]), _p(_money(bill.paid), styles["right"])]
        )
    if bill.adjusted:
        totals.append(
            [
                _p("Adjusted by insurance (not owed by the patient)", styles["right"]),
                _p(_money(-bill.adjusted), styles["right"]),
            ]
        )
    bold_right = ParagraphStyle("bold_right", styles["right"], fontName=BOLD)
    totals.append([_p("Balance", bold_right), _p(_money(bill.balance), bold_right)])
    total_table = Table(totals, colWidths=[width - 1.3 * inch, 1.3 * inch])
    total_table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("LINEABOVE", (1, -1), (1, -1), 0.8, INK),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    signature = [
        Spacer(1, 16),
        _p(
            f"Signed electronically by {bill.signed_by} on "
            f"{bill.signed_at:%m/%d/%Y at %I:%M %p} {bill.signed_at.tzname() or ''}".rstrip()
            + ".",
            styles["body"],
        ),
        Spacer(1, 4),
        _p(
            "This superbill lists the services you received so that you can file a claim with "
            "your insurer yourself. Attach it to your insurer's claim form and keep a copy.",
            styles["small"],
        ),
    ]
    story += [Spacer(1, 4), KeepTogether([total_table, *signature])]

    name = bill.patient_name if len(bill.patient_name) <= 60 else bill.patient_name[:59] + "…"
    footer = (
        f"Superbill {bill.claim_number} · {name} · date of service {_day(bill.date_of_service)}"
    )
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=LETTER,
        title=f"Superbill {bill.claim_number}",
        author=bill.practice_name,
        leftMargin=0.75 * inch,
        rightMargin=0.75 * inch,
        topMargin=0.7 * inch,
        bottomMargin=0.85 * inch,
        initialFontName=FONT,
    )
    document.build(story, canvasmaker=partial(_NumberedCanvas, footer=footer))
    return out.getvalue()
