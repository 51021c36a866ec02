"""Visit (E/M) codes by year: office/outpatient visits and the telemedicine visit codes.

Sources checked (December 2026):
- Office/outpatient visits 99202-99205 (new; 15/30/45/60 minutes met or exceeded) and
  99212-99215 (established; 10/20/30/40 minutes), levelled by total time on the date or by
  medical decision making: CMS fact sheet "Physician Fee Schedule Payment for Office/Outpatient
  E/M Visits" (January 2021), which adopts the CPT 2021 framework for Medicare.
- Telemedicine visits 98000-98015, new in CPT 2025: audio-video new 98000-98003 and established
  98004-98007, audio-only new 98008-98011 and established 98012-98015, at the same minutes and
  MDM levels as the office visits; audio-only ones also need more than 10 minutes of medical
  discussion (summaries by ACR, "Key telemedicine updates for 2025", and Experity, "What's new
  in telemedicine for 2025"). Medicare gave 98000-98015 an invalid status (CY 2025 PFS final
  rule), so its profile keeps the office codes; see payers.py.

Summaries are our own words, not the CPT descriptors.
"""

from datetime import date

from django.utils.translation import gettext_noop

from billing.rules.records import Mdm, PatientStatus, VisitCodeSet, VisitFamily, VisitLevel

LEVEL_MINUTES_NEW = (15, 30, 45, 60)
LEVEL_MINUTES_ESTABLISHED = (10, 20, 30, 40)


def _family(
    name: str,
    status: PatientStatus,
    codes: tuple[str, ...],
    summary: str,
    *,
    telemedicine: bool = False,
) -> VisitFamily:
    minutes = LEVEL_MINUTES_NEW if status == PatientStatus.NEW else LEVEL_MINUTES_ESTABLISHED
    return VisitFamily(
        name=name,
        status=status,
        levels=tuple(
            VisitLevel(
                code=code,
                mdm=mdm,
                minutes=level_minutes,
                summary=f"{summary}, {level_minutes}+ minutes or {mdm} decision making",
            )
            for code, mdm, level_minutes in zip(codes, Mdm, minutes, strict=True)
        ),
        telemedicine=telemedicine,
    )


OFFICE_NEW = _family(
    gettext_noop("new-patient office visit"),
    PatientStatus.NEW,
    ("99202", "99203", "99204", "99205"),
    "Office visit, new patient",
)
OFFICE_ESTABLISHED = _family(
    gettext_noop("established-patient office visit"),
    PatientStatus.ESTABLISHED,
    ("99212", "99213", "99214", "99215"),
    "Office visit, established patient",
)
VIDEO_NEW = _family(
    gettext_noop("new-patient video visit"),
    PatientStatus.NEW,
    ("98000", "98001", "98002", "98003"),
    "Video visit, new patient",
    telemedicine=True,
)
VIDEO_ESTABLISHED = _family(
    gettext_noop("established-patient video visit"),
    PatientStatus.ESTABLISHED,
    ("98004", "98005", "98006", "98007"),
    "Video visit, established patient",
    telemedicine=True,
)
AUDIO_NEW = _family(
    gettext_noop("new-patient audio-only visit"),
    PatientStatus.NEW,
    ("98008", "98009", "98010", "98011"),
    "Phone visit, new patient",
    telemedicine=True,
)
AUDIO_ESTABLISHED = _family(
    gettext_noop("established-patient audio-only visit"),
    PatientStatus.ESTABLISHED,
    ("98012", "98013", "98014", "98015"),
    "Phone visit, established patient",
    telemedicine=True,
)

VISIT_CODE_SETS: tuple[VisitCodeSet, ...] = (
    VisitCodeSet(
        effective_from=date(2025, 1, 1),
        office_new=OFFICE_NEW,
        office_established=OFFICE_ESTABLISHED,
        video_new=VIDEO_NEW,
        video_established=VIDEO_ESTABLISHED,
        audio_new=AUDIO_NEW,
        audio_established=AUDIO_ESTABLISHED,
        source="CPT 2025 (telemedicine codes added); CMS office E/M fact sheet, January 2021",
    ),
    VisitCodeSet(
        effective_from=date(2026, 1, 1),
        office_new=OFFICE_NEW,
        office_established=OFFICE_ESTABLISHED,
        video_new=VIDEO_NEW,
        video_established=VIDEO_ESTABLISHED,
        audio_new=AUDIO_NEW,
        audio_established=AUDIO_ESTABLISHED,
        source="CPT 2026 and the CY 2026 PFS final rule: visit levels unchanged from 2025",
    ),
)
