"""Payer profiles: how each payer wants a visit coded, one dated version per year.

Sources checked (December 2026):
- Medicare place of service: 10 when the patient is at home, 02 elsewhere; modifier 95 is no
  longer used on Medicare professional claims since 1 January 2024 except in narrow cases
  (hospital clinician with patient at home, therapy): CY 2024 PFS final rule pp. 78874-78876 as
  summarised by National Government Services, "Telehealth changes for 2024 - modifier 95 and
  place of service codes"; telehealth.hhs.gov, "Billing and coding Medicare fee-for-service
  claims".
- Audio-only: modifier 93, or FQ from an RHC/FQHC; Medicare allows audio-only for a patient at
  home who cannot use or does not agree to video (CY 2025 PFS final rule; First Coast Service
  Options, "Telehealth service modifiers").
- Prolonged time: Medicare pays HCPCS G2212, not CPT 99417, per full 15 minutes beyond the top
  of the old level-5 ranges: first unit at 89 minutes (99205) or 69 minutes (99215) (CMS
  office E/M fact sheet, January 2021: "99205 x 1 and G2212 x 1: 89-103 minutes"). CPT's
  99417 counts from the level-5 minimum: first unit at 75 (99205) or 55 (99215) minutes.
- Telemedicine codes 98000-98015: invalid for Medicare (CY 2025 PFS final rule); a commercial
  payer may adopt them, so the commercial profile comes in two variants.
- Medicare telehealth flexibilities (patient at home for any service, audio-only, RHC/FQHC as
  distant site): extended through 30 January 2026 by the Continuing Appropriations Act of
  November 2025, then through 31 December 2027 by the Consolidated Appropriations Act, 2026
  (H.R. 7148, signed 3 February 2026). After the date, home stays an allowed originating site
  only for behavioral and mental health (McGuireWoods, "Understanding Congress' latest extension
  of Medicare telehealth flexibilities", February 2026).
- Medicaid: states set their own rules. The default profile follows the common CPT convention
  (POS 02/10 with modifier 95, 93 for audio-only, CPT prolonged time); a state with other rules
  gets its own profile with `state` set, built from the default with `dataclasses.replace`.
"""

from dataclasses import replace
from datetime import date

from django.utils.translation import gettext_noop

from billing.rules.records import PayerKind, PayerProfile, ProlongedRule

CPT_PROLONGED = ProlongedRule(
    code="99417",
    first_unit_new=75,
    first_unit_established=55,
    unit_minutes=15,
    summary="Prolonged visit time, each full 15 minutes beyond the top level",
)
MEDICARE_PROLONGED = ProlongedRule(
    code="G2212",
    first_unit_new=89,
    first_unit_established=69,
    unit_minutes=15,
    summary="Prolonged visit time (Medicare), each full 15 minutes beyond the range",
)

MEDICARE_2025 = PayerProfile(
    key="medicare",
    kind=PayerKind.MEDICARE,
    name=gettext_noop("Medicare"),
    effective_from=date(2025, 1, 1),
    pos_in_person="11",
    pos_home="10",
    pos_elsewhere="02",
    video_modifier=None,
    audio_modifier="93",
    audio_modifier_rhc_fqhc="FQ",
    telemedicine_codes=False,
    prolonged=MEDICARE_PROLONGED,
    telehealth_flexibilities_until=date(2026, 1, 30),
    audio_only_at_home_only=True,
    source="CY 2025 PFS final rule; Continuing Appropriations Act (November 2025)",
)
MEDICARE_2026 = replace(
    MEDICARE_2025,
    effective_from=date(2026, 1, 1),
    telehealth_flexibilities_until=date(2027, 12, 31),
    source="CY 2026 PFS final rule; Consolidated Appropriations Act, 2026 (H.R. 7148)",
)

COMMERCIAL_2025 = PayerProfile(
    key="commercial",
    kind=PayerKind.COMMERCIAL,
    name=gettext_noop("Commercial (default)"),
    effective_from=date(2025, 1, 1),
    pos_in_person="11",
    pos_home="10",
    pos_elsewhere="02",
    video_modifier="95",
    audio_modifier="93",
    audio_modifier_rhc_fqhc="FQ",
    telemedicine_codes=False,
    prolonged=CPT_PROLONGED,
    telehealth_flexibilities_until=None,
    audio_only_at_home_only=False,
    source="CPT 2025 telehealth modifiers 95/93 and prolonged time 99417",
)
COMMERCIAL_TELEMEDICINE_2025 = replace(
    COMMERCIAL_2025,
    key="commercial-telemedicine-codes",
    name=gettext_noop("Commercial, telemedicine visit codes (98000-98015)"),
    telemedicine_codes=True,
    source="CPT 2025 telemedicine services 98000-98015 with 99417",
)

MEDICAID_2025 = replace(
    COMMERCIAL_2025,
    key="medicaid",
    kind=PayerKind.MEDICAID,
    name=gettext_noop("Medicaid (default)"),
    source="CPT conventions; each state may override in its own profile",
)

PAYER_PROFILES: tuple[PayerProfile, ...] = (
    MEDICARE_2025,
    MEDICARE_2026,
    COMMERCIAL_2025,
    COMMERCIAL_TELEMEDICINE_2025,
    MEDICAID_2025,
)
