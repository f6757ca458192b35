"""Business-hours TTFR across weekends, holidays, time zones and clock changes.

Every expectation is computed by hand (in the comment beside it) and written as a literal.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesops_dagster.first_response import calendar as cal
from salesops_dagster.first_response.sql import refresh_first_response
from salesops_dagster.policy.models import RoutingPolicy
from tests.first_response import POLICY_PATH, Org, row


def berlin_policy() -> RoutingPolicy:
    """The shipped policy with EMEA on Berlin hours (Mon-Fri 09:00-17:00, Easter holidays) and
    an "OPS" region open only on Sundays, all day, for the clock-change cases."""
    doc = json.loads(POLICY_PATH.read_text())
    emea = next(r for r in doc["regions"] if r["name"] == "EMEA")
    emea["business_hours"] = {
        "time_zone": "Europe/Berlin",
        "weekly": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": ["2026-04-03", "2026-04-06", "2026-12-25"],
    }
    doc["regions"].append(
        {
            "name": "OPS",
            "rules": [{"name": "ops", "when": {"field": "Country", "op": "=", "value": "Ops"}}],
            "business_hours": {
                "time_zone": "Europe/Berlin",
                "weekly": {"sun": [["00:00", "24:00"]]},
            },
        }
    )
    return RoutingPolicy.model_validate(doc)


POLICY = berlin_policy()

# (case, country, created UTC, answered UTC, calendar minutes, business minutes)
CASES = [
    # Fri 2026-03-06 16:30 CET -> Mon 09:30 CET: Fri 16:30-17:00 (30) + Mon 09:00-09:30 (30).
    # Calendar: Fri 15:30 UTC -> Mon 08:30 UTC = 3 days - 7 h = 3900.
    ("weekend, Berlin", "Germany", "2026-03-06 15:30", "2026-03-09 08:30", "3900.00", "60.00"),
    # Thu 2026-04-02 16:00 CEST -> Tue 04-07 10:15 CEST over Good Friday, the weekend and Easter
    # Monday: Thu 16:00-17:00 (60) + Tue 09:00-10:15 (75) = 135.
    # Calendar: Thu 14:00 UTC -> Tue 08:15 UTC = 4 days 18 h 15 min = 6855.
    ("holidays, Berlin", "Germany", "2026-04-02 14:00", "2026-04-07 08:15", "6855.00", "135.00"),
    # Fri 2026-03-27 16:00 CET -> Mon 03-30 09:45 CEST (clocks went forward on Sunday):
    # Fri 16:00-17:00 (60) + Mon 09:00-09:45 (45) = 105.
    # Calendar: Fri 15:00 UTC -> Mon 07:45 UTC = 2 days 16 h 45 min = 3885.
    ("spring forward, Berlin", "Germany", "2026-03-27 15:00", "2026-03-30 07:45", "3885.00",
     "105.00"),
    # The first case's instants for a New York lead (08:00-18:00): Fri 10:30 EST -> 18:00 (450);
    # Mon 08:30 UTC is 04:30 EDT (clocks went forward on Sunday 03-08), before opening: 0.
    ("same instants, New York", "United States", "2026-03-06 15:30", "2026-03-09 08:30",
     "3900.00", "450.00"),
    # Fri 2026-03-06 17:00 EST -> Mon 03-09 09:00 EDT: Fri 17:00-18:00 (60) + Mon 08:00-09:00
    # (60) = 120. Calendar: Fri 22:00 UTC -> Mon 13:00 UTC = 2 days 15 h = 3780.
    ("spring forward, New York", "United States", "2026-03-06 22:00", "2026-03-09 13:00",
     "3780.00", "120.00"),
    # Singapore, lunch closed 12:30-13:30: Mon 12:00 SGT -> 14:00 SGT = 30 + 30 = 60.
    ("lunch break, Singapore", "Singapore", "2026-03-02 04:00", "2026-03-02 06:00", "120.00",
     "60.00"),
    # Saturday 10:00 -> 11:00 in Berlin: closed all along.
    ("closed, Berlin", "Germany", "2026-03-07 09:00", "2026-03-07 10:00", "60.00", "0.00"),
    # Sunday 2026-10-25 is 25 hours long in Berlin (clocks went back at 03:00 CEST): open all
    # Sunday, Sat 23:00 CEST (21:00 UTC) -> Mon 01:00 CET (00:00 UTC) holds 25 h = 1500.
    ("fall back, whole Sunday", "Ops", "2026-10-24 21:00", "2026-10-26 00:00", "1620.00",
     "1500.00"),
    # Created within hours, answered seconds later: 12.5 s = 0.21 min both ways.
    ("seconds, Berlin", "Germany", "2026-03-04 10:00", "2026-03-04 10:00:12.5", "0.21", "0.21"),
]  # fmt: skip


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def computed(tmp_path_factory) -> dict[str, dict]:
    con = duckdb.connect(str(tmp_path_factory.mktemp("cal") / "w.duckdb"))
    org = Org(con)
    leads = {}
    for case, country, created, answered, *_ in CASES:
        lead = org.lead(utc(created), Country=country)
        org.email(utc(answered), to=[lead])
        leads[case] = lead
    org.sync()
    refresh_first_response(con, POLICY, now=utc("2026-12-31 00:00"))
    out = {case: row(con, lead) for case, lead in leads.items()}
    con.close()
    return out


@pytest.mark.parametrize(
    ("case", "country", "created", "answered", "calendar_minutes", "business_minutes"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_business_minutes_by_hand(
    computed, case, country, created, answered, calendar_minutes, business_minutes
) -> None:
    r = computed[case]
    assert r["ttfr_minutes"] == Decimal(calendar_minutes)
    assert r["ttfr_business_minutes"] == Decimal(business_minutes)
    region = {"Germany": "EMEA", "United States": "NA", "Singapore": "APAC", "Ops": "OPS"}
    assert r["region"] == region[country]
    # The plain-Python calendar agrees.
    hours = POLICY.business_hours(r["region"])
    assert round(cal.business_minutes(hours, utc(created), utc(answered)), 2) == float(
        business_minutes
    )


def test_day_intervals_follow_the_clock_changes() -> None:
    emea = POLICY.business_hours("EMEA")
    # 09:00-17:00 is 08:00-16:00 UTC in winter and 07:00-15:00 UTC in summer.
    assert cal.day_intervals(emea, date(2026, 3, 27)) == [
        cal.Interval(utc("2026-03-27 08:00"), utc("2026-03-27 16:00"))
    ]
    assert cal.day_intervals(emea, date(2026, 3, 30)) == [
        cal.Interval(utc("2026-03-30 07:00"), utc("2026-03-30 15:00"))
    ]
    assert cal.day_intervals(emea, date(2026, 4, 3)) == []  # Good Friday
    assert cal.day_intervals(emea, date(2026, 3, 28)) == []  # Saturday
    ops = POLICY.business_hours("OPS")
    (sunday,) = cal.day_intervals(ops, date(2026, 10, 25))
    assert sunday.minutes == 1500


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 3, 1), max_value=datetime(2026, 11, 30)),
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=9)),
    region=st.sampled_from(["EMEA", "NA", "APAC", "LATAM", "OPS"]),
)
def test_sql_calendar_equals_python(start: datetime, length: timedelta, region: str) -> None:
    con = _calendar_con()
    a = start.replace(tzinfo=UTC)
    b = a + length
    expected = cal.business_minutes(POLICY.business_hours(region), a, b)
    assert cal.business_minutes_sql(con, region, a, b) == pytest.approx(expected, abs=1e-6)


_CON: list[duckdb.DuckDBPyConnection] = []


def _calendar_con() -> duckdb.DuckDBPyConnection:
    if not _CON:
        con = duckdb.connect()
        cal.write_calendar(con, POLICY, date(2026, 2, 20), date(2026, 12, 20))
        _CON.append(con)
    return _CON[0]


def test_calendar_reaches_past_its_last_day_far_enough_for_the_largest_sla() -> None:
    rows = cal.calendar_rows(POLICY, date(2026, 12, 20), date(2026, 12, 24))
    end_of_range = datetime(2026, 12, 25, tzinfo=UTC).timestamp() * 1_000_000
    after = [
        piece
        for region, pieces in zip(rows.day["region"], rows.day["pieces"], strict=True)
        if region == "EMEA"
        for piece in pieces
        if piece[1] > end_of_range
    ]
    # Christmas is a holiday and 12-26/27 a weekend: the 480-minute SLA needs Mon 12-28.
    first_start = datetime.fromtimestamp(after[0][0] / 1_000_000, UTC)
    assert first_start == datetime(2026, 12, 28, 8, 0, tzinfo=UTC)
    assert sum(end - start for start, end, _ in after) > 480 * 60_000_000


def test_deadline_lookup_matches_python(tmp_path) -> None:
    con = _calendar_con()
    hours = POLICY.business_hours("EMEA")
    created = utc("2026-03-06 15:45")  # Fri 16:45 CET
    for sla, expected in [
        # Reached at Friday's 17:00 closing: still within until Monday's opening, 09:00 CET.
        (15, "2026-03-09 08:00"),
        (16, "2026-03-09 08:01"),
        (30, "2026-03-09 08:15"),
        (480 + 15, "2026-03-10 08:00"),  # all of Monday too: Tuesday's opening
    ]:
        row = con.execute(
            f"""
            WITH c AS (
                SELECT {cal.f_sql("CAST($t AS TIMESTAMP)", "d")} + CAST($sla AS BIGINT) * 60000000
                    AS f_due
                FROM {cal.DAY_TABLE} AS d WHERE d.region = 'EMEA' AND d.day = DATE '2026-03-06'
            )
            SELECT {cal.instant_sql("c.f_due", "h")} FROM c
            JOIN {cal.HOUR_TABLE} AS h
                ON h.region = 'EMEA' AND h.bucket = c.f_due // {cal.BUCKET_US}
            """,  # noqa: S608
            {"t": created.replace(tzinfo=None), "sla": sla},
        ).fetchall()
        due = row[0][0].replace(tzinfo=UTC)
        assert due == utc(expected), sla
        assert cal.business_minutes(hours, created, due) == sla
