"""Remote physiologic monitoring codes by year.

Sources checked (December 2026): summaries of the CY 2026 Medicare Physician Fee Schedule final
rule (CMS, November 2025; Rimidi, "2026 PFS final rule: CMS finalizes key RPM updates"):
- device supply per 30-day period: 99454 for 16-30 days with readings, and from 2026 99445 for
  2-15 days; one or the other, once per patient per period whatever the number of devices;
- setup and education 99453, once per episode of care, when the period's data requirement is
  met (16 days before 2026, 2 days from 2026);
- treatment management per calendar month with at least one real-time interactive contact:
  99457 for the first 20 minutes, from 2026 99470 for 10-19 minutes instead (not both), and
  99458 for each further full 20 minutes after the first 20.
Confirm against the payer's policy; summaries are our own words.
"""

from datetime import date

from billing.rules.records import DeviceSupplyCode, ManagementCode, MonitoringRuleSet

SUPPLY_16_TO_30 = DeviceSupplyCode(
    code="99454",
    min_days=16,
    max_days=30,
    summary="Monitoring device supply, readings on 16-30 days of the period",
)
SUPPLY_2_TO_15 = DeviceSupplyCode(
    code="99445",
    min_days=2,
    max_days=15,
    summary="Monitoring device supply, readings on 2-15 days of the period",
)
MANAGEMENT_20 = ManagementCode(
    code="99457",
    min_minutes=20,
    max_minutes=None,
    summary="Monitoring treatment management, first 20 minutes in the month",
)
MANAGEMENT_10_TO_19 = ManagementCode(
    code="99470",
    min_minutes=10,
    max_minutes=19,
    summary="Monitoring treatment management, 10-19 minutes in the month",
)

MONITORING_RULE_SETS: tuple[MonitoringRuleSet, ...] = (
    MonitoringRuleSet(
        effective_from=date(2019, 1, 1),
        period_days=30,
        setup_code="99453",
        setup_min_days=16,
        setup_summary="Monitoring setup and device education, once per episode",
        device_supply=(SUPPLY_16_TO_30,),
        management=(MANAGEMENT_20,),
        further_code="99458",
        further_minutes=20,
        further_summary="Monitoring treatment management, each further 20 minutes",
        source="CPT 2019-2025 remote physiologic monitoring; Medicare PFS 2019-2025",
    ),
    MonitoringRuleSet(
        effective_from=date(2026, 1, 1),
        period_days=30,
        setup_code="99453",
        setup_min_days=2,
        setup_summary="Monitoring setup and device education, once per episode",
        device_supply=(SUPPLY_2_TO_15, SUPPLY_16_TO_30),
        management=(MANAGEMENT_10_TO_19, MANAGEMENT_20),
        further_code="99458",
        further_minutes=20,
        further_summary="Monitoring treatment management, each further 20 minutes",
        source="CY 2026 PFS final rule (CMS-1832-F): 99445 and 99470 added",
    ),
)
