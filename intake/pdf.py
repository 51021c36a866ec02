"""The signed consent as a PDF: the document text, the signature, and the signing record.
Made once at signing and stored; later edits of the document never touch it."""

import io
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Flowable, Image, Paragraph, SimpleDocTemplate, Spacer, Table


def signed_consent(
    *,
    practice: str,
    title: str,
    version: int,
    text: str,
    signer: str,
    patient: str,
    signed_at: datetime,
    ip: str,
    user_agent: str,
    digest: str,
    drawing: bytes,
) -> bytes:
    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    story: list[Flowable] = [
        Paragraph(escape(practice), styles["Normal"]),
        Paragraph(escape(f"{title} (version {version})"), styles["Title"]),
    ]
    for paragraph in text.split("\n\n"):
        story.append(Paragraph(escape(paragraph).replace("\n", "<br/>"), body))
        story.append(Spacer(1, 6))
    story.append(Spacer(1, 18))
    story.append(Paragraph("Signature", styles["Heading2"]))
    if drawing:
        story.append(
            Image(io.BytesIO(drawing), width=3 * inch, height=1 * inch, kind="proportional")
        )
    else:
        story.append(Paragraph(f"<i>{escape(signer)}</i> (typed signature)", body))
    record = [
        ["Signed by", signer],
        ["Patient", patient],
        ["Signed at (UTC)", signed_at.strftime("%Y-%m-%d %H:%M:%S")],
        ["IP address", ip or "unknown"],
        ["Browser", user_agent[:90] or "unknown"],
        ["SHA-256 of the text", digest],
    ]
    story.append(Spacer(1, 12))
    story.append(Paragraph("Signing record", styles["Heading2"]))
    story.append(Table(record, colWidths=[1.6 * inch, 5 * inch]))
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=LETTER,
        title=f"{title} - {signer}",
        author=practice,
        leftMargin=0.9 * inch,
        rightMargin=0.9 * inch,
    )
    document.build(story)
    return out.getvalue()
