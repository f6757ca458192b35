"""SLA status in business minutes, open breaches, and the statistics shown as metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import pytest

from salesops_dagster.first_response.sla import first_response_stats, open_breaches
from salesops_dagster.first_response.sql import refresh_first_response
from tests.first_response import Org, row
from tests.first_response.test_calendar import berlin_policy

POLICY = berlin_policy()  # EMEA: Europe/Berlin, Mon-Fri 09:00-17:00; enterprise SLA 30 minutes


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


FRIDAY_1645 = utc("2026-03-06 15:45")  # 16:45 CET: 15 business minutes left that day
ENTERPRISE_DE = {"Country": "Germany", "NumberOfEmployees": 5000}


@pytest.fixture
def org(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield Org(con)
    con.close()


def test_due_time_status_and_breach_listing_across_a_weekend(org: Org) -> None:
    # 15 minutes on Friday + 15 on Monday: due Mon 09:15 CET = 08:15 UTC.
    on_time = org.lead(FRIDAY_1645, **ENTERPRISE_DE)
    org.task(on_time, utc("2026-03-09 08:15"))
    late = org.lead(FRIDAY_1645, **ENTERPRISE_DE)
    org.task(late, utc("2026-03-09 08:16"))
    waiting = org.lead(FRIDAY_1645, **ENTERPRISE_DE)
    converted = org.lead(FRIDAY_1645, IsConverted=True, **ENTERPRISE_DE)
    org.sync()
    refresh_first_response(org.con, POLICY, now=utc("2026-03-09 08:14"))

    r = row(org.con, on_time)
    assert (r["segment"], r["region"], r["sla_minutes"]) == ("enterprise", "EMEA", 30)
    assert r["sla_due_at"] == datetime(2026, 3, 9, 8, 15)
    assert r["ttfr_business_minutes"] == Decimal("30.00")
    assert r["sla_status"] == "responded_within_sla"
    assert row(org.con, late)["ttfr_business_minutes"] == Decimal("31.00")
    assert row(org.con, late)["sla_status"] == "responded_late"
    assert row(org.con, waiting)["sla_status"] == "open_within_sla"
    assert open_breaches(org.con) == []

    # Two minutes later the open ones are past due; only the unconverted one is listed.
    stats = refresh_first_response(org.con, POLICY, now=utc("2026-03-09 08:16"))
    assert (stats.leads_recomputed, stats.sla_changed) == (0, 2)
    assert row(org.con, waiting)["sla_status"] == "open_breached"
    assert row(org.con, waiting)["computed_at"] == datetime(2026, 3, 9, 8, 16)
    (breach,) = open_breaches(org.con)
    assert breach["lead_id"] == waiting
    assert breach["overdue_minutes"] == 1.0
    assert breach["sla_due_at"] == utc("2026-03-09 08:15")
    assert row(org.con, converted)["sla_status"] == "open_breached"
    # Same `now` again: nothing flips.
    assert refresh_first_response(org.con, POLICY, now=utc("2026-03-09 08:16")).changed == 0


def test_a_deadline_at_closing_time_waits_for_the_next_opening(org: Org) -> None:
    # Fri 16:30 CET + 30 business minutes = 17:00, closing: the lead is in time until Monday
    # 09:00 CET (08:00 UTC), so a Saturday answer is within the SLA.
    lead = org.lead(utc("2026-03-06 15:30"), **ENTERPRISE_DE)
    saturday = org.lead(utc("2026-03-06 15:30"), **ENTERPRISE_DE)
    org.email(utc("2026-03-07 10:00"), to=[saturday])
    org.sync()
    refresh_first_response(org.con, POLICY, now=utc("2026-03-09 08:00"))
    assert row(org.con, lead)["sla_due_at"] == datetime(2026, 3, 9, 8, 0)
    assert row(org.con, lead)["sla_status"] == "open_within_sla"
    assert row(org.con, saturday)["sla_status"] == "responded_within_sla"
    refresh_first_response(org.con, POLICY, now=utc("2026-03-09 08:00:01"))
    assert row(org.con, lead)["sla_status"] == "open_breached"


def test_segments_carry_their_own_sla_and_none_without_one(org: Org) -> None:
    smb = org.lead(FRIDAY_1645, Country="Germany")
    mid = org.lead(FRIDAY_1645, Country="Germany", NumberOfEmployees=300)
    org.sync()
    refresh_first_response(org.con, POLICY, now=FRIDAY_1645)
    assert row(org.con, smb)["sla_minutes"] == 480
    # 120 business minutes from Fri 16:45: 15 on Friday, 105 on Monday -> 10:45 CET.
    assert row(org.con, mid)["sla_due_at"] == datetime(2026, 3, 9, 9, 45)
    no_sla = POLICY.model_copy(
        update={
            "segments": [s.model_copy(update={"sla_minutes": None}) for s in POLICY.segments],
            "first_touch": POLICY.first_touch.model_copy(update={"default_sla_minutes": None}),
        }
    )
    refresh_first_response(org.con, no_sla, now=FRIDAY_1645)
    r = row(org.con, smb)
    assert (r["sla_minutes"], r["sla_due_at"], r["sla_status"]) == (None, None, None)


def test_statistics_for_metadata(org: Org) -> None:
    monday_10 = utc("2026-03-09 09:00")  # 10:00 CET
    answers = [5, 10, 20, 40, 60]  # minutes, all within opening hours
    for minutes in answers:
        lead = org.lead(monday_10, **ENTERPRISE_DE)
        org.task(lead, utc("2026-03-09 09:00").replace(minute=minutes % 60, hour=9 + minutes // 60))
    open_lead = org.lead(monday_10, **ENTERPRISE_DE)
    deleted = org.lead(monday_10, **ENTERPRISE_DE)
    org.delete("Lead", deleted)
    org.sync()
    refresh_first_response(org.con, POLICY, now=utc("2026-03-09 12:00"))
    assert row(org.con, open_lead)["sla_status"] == "open_breached"
    stats = first_response_stats(org.con)
    assert stats == {
        "leads": 6,
        "leads_responded": 5,
        "response_rate": 0.8333,
        # quantile_cont over 5, 10, 20, 40, 60: p50 = 20; p90 = 40 + 0.6 * 20 = 52.
        "ttfr_p50_minutes": 20.0,
        "ttfr_p90_minutes": 52.0,
        "ttfr_business_p50_minutes": 20.0,
        "ttfr_business_p90_minutes": 52.0,
        "responded_within_sla": 3,
        "responded_late": 2,
        "open_within_sla": 0,
        "open_breaches": 1,
        # 3 in time of 6 decided (3 within, 2 late, 1 open breach).
        "share_within_sla": 0.5,
    }
