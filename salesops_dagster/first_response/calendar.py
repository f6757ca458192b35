"""Business calendars: each region's open hours as UTC intervals, and business minutes from them.

A region's `business_hours` (IANA time zone, weekly opening intervals in local wall-clock time,
holidays as local dates closed all day) becomes a list of UTC intervals, one per opening interval
per open local day, converted with `zoneinfo` so daylight-saving days come out right: an interval
that spans a clock change is an hour shorter or longer in UTC, as it is on the wall. Local times
that do not exist (the hour skipped in spring) take the offset before the change, like
`zoneinfo`'s fold=0.

Business minutes between two instants are the minutes of those intervals that lie between them:
F(b) - F(a), where F(t) is the region's running total of open time up to t. The warehouse keeps
the calendar in two lookup tables built for equi-joins (a hash join on a few thousand rows is many
times cheaper than a range or ASOF join over a million leads):

- `salesops.ttfr_business_day` (region, UTC day): F at the day's start and the open pieces of
  that day (intervals cut at UTC midnight) with their running totals; F(t) is one lookup on
  (region, t's UTC date) and a sum over at most a few pieces (`f_sql`).
- `salesops.ttfr_business_hour` (region, hour of business time): the pieces whose running totals
  overlap that business hour; the instant at which F reaches a target (an SLA deadline) is one
  lookup on (region, target // 1 business hour) and a pick of the first piece ending after the
  target (`instant_sql`).

Instants are epoch microseconds and running totals are microseconds of business time since the
calendar's first day, all BIGINT, so sums are exact.
`business_minutes` computes the same thing in plain Python for tests and cross-checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import duckdb

from salesops_dagster.policy.models import BusinessHours, RoutingPolicy

_MICROS_PER_MINUTE = 60_000_000

# How far past the latest instant that needs it a rebuilt calendar reaches: `now` moves on, and
# a longer reach means fewer rebuilds.
HORIZON_DAYS = 31
# A region whose hours cannot accumulate the largest SLA within this many extra days gets no
# deadline past it (validation guarantees every region opens at least one day a week).
MAX_EXTENSION_DAYS = 400


@dataclass(frozen=True)
class Interval:
    """One open interval, [start, end) in aware UTC datetimes."""

    start: datetime
    end: datetime

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


def _local(day: date, minute_of_day: int, hours: BusinessHours) -> datetime:
    """Local wall-clock `minute_of_day` of `day` (1440 = next midnight), as aware UTC."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute_of_day)
    return wall.replace(tzinfo=hours.zone).astimezone(UTC)


def day_intervals(hours: BusinessHours, day: date) -> list[Interval]:
    """The open intervals of local calendar `day` in UTC ([] on a holiday or a closed day)."""
    if day in hours.holidays:
        return []
    out = []
    for start, end in hours.weekly.minutes(day.weekday()):
        interval = Interval(_local(day, start, hours), _local(day, end, hours))
        if interval.end > interval.start:
            out.append(interval)
    return out


def intervals(hours: BusinessHours, first_day: date, last_day: date) -> list[Interval]:
    """Every open interval of local days first_day..last_day, sorted, overlaps merged."""
    raw: list[Interval] = []
    day = first_day
    while day <= last_day:
        raw.extend(day_intervals(hours, day))
        day += timedelta(days=1)
    return _merged(raw)


def _merged(items: Iterable[Interval]) -> list[Interval]:
    # Validation refuses overlapping hours within a day, but a 24:00 end meeting the next day's
    # 00:00 start touches; merging keeps the running total a simple sum either way.
    out: list[Interval] = []
    for interval in sorted(items, key=lambda i: i.start):
        if out and interval.start <= out[-1].end:
            if interval.end > out[-1].end:
                out[-1] = Interval(out[-1].start, interval.end)
            continue
        out.append(interval)
    return out


def business_minutes(hours: BusinessHours, start: datetime, end: datetime) -> float:
    """Minutes of open business time between two aware instants (0 when end <= start)."""
    if end <= start:
        return 0.0
    zone = hours.zone
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    total = timedelta()
    for interval in intervals(hours, first, last):
        overlap = min(end, interval.end) - max(start, interval.start)
        if overlap > timedelta():
            total += overlap
    return total.total_seconds() / 60


# --- the warehouse tables -------------------------------------------------------------------------

DAY_TABLE = "salesops.ttfr_business_day"
HOUR_TABLE = "salesops.ttfr_business_hour"
BUCKET_US = 3_600_000_000  # one hour of business time per ttfr_business_hour row

_PIECE = "STRUCT(start_us BIGINT, end_us BIGINT, cum_start_us BIGINT)"
_CREATE = (
    f"""
CREATE TABLE IF NOT EXISTS {DAY_TABLE} (
    region VARCHAR NOT NULL,
    day DATE NOT NULL,          -- UTC date
    base_us BIGINT NOT NULL,    -- F at 00:00 UTC of the day
    pieces {_PIECE}[] NOT NULL  -- open pieces of the day: epoch microseconds, F at their start
)
""",
    f"""
CREATE TABLE IF NOT EXISTS {HOUR_TABLE} (
    region VARCHAR NOT NULL,
    bucket BIGINT NOT NULL,     -- F // BUCKET_US
    pieces {_PIECE}[] NOT NULL  -- every piece whose [F start, F end) overlaps the bucket
)
""",
)


def ensure_calendar_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS salesops")
    for statement in _CREATE:
        con.execute(statement)


def _micros(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_us(value: datetime) -> int:
    return _micros(value - _EPOCH)


def _region_intervals(
    hours: BusinessHours,
    first_day: date,
    last_day: date,
    *,
    extend_from: datetime,
    needed_minutes: int,
) -> list[Interval]:
    """The region's intervals for first_day..last_day, extended past `last_day` until
    `needed_minutes` of business time lie after `extend_from` (so every SLA deadline of a lead
    created by then exists)."""
    items = intervals(hours, first_day, last_day)
    needed = timedelta(minutes=needed_minutes)
    after = sum(
        (i.end - max(i.start, extend_from) for i in items if i.end > extend_from),
        start=timedelta(),
    )
    day = last_day
    while after <= needed and day < last_day + timedelta(days=MAX_EXTENSION_DAYS):
        day += timedelta(days=1)
        more = day_intervals(hours, day)
        items = _merged([*items, *more])
        after += sum((i.end - max(i.start, extend_from) for i in more), start=timedelta())
    return items


@dataclass
class CalendarRows:
    """Column lists for the two lookup tables (see the module docstring)."""

    day: dict[str, list] = field(
        default_factory=lambda: {k: [] for k in ("region", "day", "base_us", "pieces")}
    )
    hour: dict[str, list] = field(
        default_factory=lambda: {k: [] for k in ("region", "bucket", "pieces")}
    )

    def add_region(self, name: str, items: list[Interval], first_day: date) -> None:
        origin = datetime.combine(first_day, time(), tzinfo=UTC)
        # Pieces: intervals cut at UTC midnight, each with F at its start.
        by_day: dict[date, list[tuple[int, int, int]]] = {}
        total = 0
        last_day = first_day
        for interval in items:
            start = interval.start
            while start < interval.end:
                midnight = datetime.combine(start.date() + timedelta(days=1), time(), tzinfo=UTC)
                end = min(interval.end, midnight)
                piece = (_epoch_us(start), _epoch_us(end), total)
                by_day.setdefault(start.date(), []).append(piece)
                total += piece[1] - piece[0]
                last_day = max(last_day, start.date())
                start = end
        # Every day from the origin gets a row, open or not, so F(t) is a plain equi-join.
        running = 0
        day = origin.date()
        while day <= last_day:
            pieces = by_day.get(day, [])
            self.day["region"].append(name)
            self.day["day"].append(day)
            self.day["base_us"].append(running)
            self.day["pieces"].append(pieces)
            if pieces:
                running = pieces[-1][2] + pieces[-1][1] - pieces[-1][0]
            day += timedelta(days=1)
        flat = [p for d in sorted(by_day) for p in by_day[d]]
        buckets: dict[int, list[tuple[int, int, int]]] = {}
        for piece in flat:
            cum_start, cum_end = piece[2], piece[2] + piece[1] - piece[0]
            for bucket in range(cum_start // BUCKET_US, (cum_end - 1) // BUCKET_US + 1):
                buckets.setdefault(bucket, []).append(piece)
        for bucket, pieces in sorted(buckets.items()):
            self.hour["region"].append(name)
            self.hour["bucket"].append(bucket)
            self.hour["pieces"].append(pieces)


def calendar_rows(policy: RoutingPolicy, first_day: date, last_day: date) -> CalendarRows:
    """Every region's lookup rows for local days first_day..last_day, extended per region past
    last_day until it holds the policy's largest SLA after the end of last_day (UTC), so every
    SLA deadline of a lead created within the range exists."""
    largest_sla = max(
        (m for m in (policy.sla_minutes(s.name) for s in policy.segments) if m is not None),
        default=0,
    )
    usable_until = datetime.combine(last_day + timedelta(days=1), time(), tzinfo=UTC)
    rows = CalendarRows()
    for region in policy.regions:
        items = _region_intervals(
            region.business_hours,
            first_day,
            last_day,
            extend_from=usable_until,
            needed_minutes=largest_sla,
        )
        # Local first_day may start before its UTC date: begin the UTC days one earlier.
        rows.add_region(region.name, items, first_day - timedelta(days=1))
    return rows


def _struct_list(pieces: list[list[tuple[int, int, int]]]) -> list[list[dict[str, int]]]:
    return [[{"start_us": s, "end_us": e, "cum_start_us": c} for s, e, c in day] for day in pieces]


def write_calendar(
    con: duckdb.DuckDBPyConnection, policy: RoutingPolicy, first_day: date, last_day: date
) -> int:
    """Replace the lookup tables with the policy's calendar for first_day..last_day (see
    `calendar_rows`); return the number of day rows. Runs in the caller's transaction."""
    ensure_calendar_table(con)
    rows = calendar_rows(policy, first_day, last_day)
    con.execute(f"DELETE FROM {DAY_TABLE}")  # noqa: S608 - constant name
    con.execute(f"DELETE FROM {HOUR_TABLE}")  # noqa: S608 - constant name
    # Column lists travel as parameters and are zipped by unnest: no DataFrame registration.
    con.execute(
        f"""
        INSERT INTO {DAY_TABLE}
        SELECT unnest($region), unnest($day), unnest($base_us),
               unnest(CAST($pieces AS {_PIECE}[][]))
        """,
        {**rows.day, "pieces": _struct_list(rows.day["pieces"])},
    )
    con.execute(
        f"""
        INSERT INTO {HOUR_TABLE}
        SELECT unnest($region), unnest($bucket), unnest(CAST($pieces AS {_PIECE}[][]))
        """,
        {**rows.hour, "pieces": _struct_list(rows.hour["pieces"])},
    )
    return len(rows.day["day"])


def f_sql(instant: str, day: str) -> str:
    """F(instant) in SQL: `day` is the alias of the ttfr_business_day row joined on (region,
    CAST(instant AS DATE)); NULL when instant is NULL or outside the calendar."""
    return (
        f"({day}.base_us + coalesce(CAST(list_sum(list_transform({day}.pieces, lambda p: "
        f"least(greatest(epoch_us({instant}) - p.start_us, 0), p.end_us - p.start_us)))"
        " AS BIGINT), 0))"
    )


def instant_sql(target: str, hour: str) -> str:
    """The last instant at which F is still <= `target` (a TIMESTAMP): `hour` is the alias of
    the ttfr_business_hour row joined on (region, target // BUCKET_US). Inside an open piece that
    is the moment F reaches the target; at a piece's end it is the start of the next piece
    (a closed stretch adds nothing). NULL when the calendar ends first."""
    piece = (
        f"list_filter({hour}.pieces, lambda q: "
        f"q.cum_start_us + q.end_us - q.start_us > {target})[1]"
    )
    return f"make_timestamp(CAST({piece}.start_us + ({target}) - {piece}.cum_start_us AS BIGINT))"


def business_minutes_sql(
    con: duckdb.DuckDBPyConnection, region: str, start: datetime, end: datetime
) -> float | None:
    """Business minutes between two aware instants with the stored calendar and the very SQL
    the refresh uses (`f_sql`); the tests' bridge between the Python and SQL computations."""
    row = con.execute(
        f"""
        WITH t AS (
            SELECT CAST($start AS TIMESTAMP) AS a, CAST($end AS TIMESTAMP) AS b
        )
        SELECT ({f_sql("t.b", "db")} - {f_sql("t.a", "da")}) / {_MICROS_PER_MINUTE}
        FROM t
        JOIN {DAY_TABLE} AS da ON da.region = $region AND da.day = CAST(t.a AS DATE)
        JOIN {DAY_TABLE} AS db ON db.region = $region AND db.day = CAST(t.b AS DATE)
        """,  # noqa: S608 - constant names
        {
            "start": start.astimezone(UTC).replace(tzinfo=None),
            "end": end.astimezone(UTC).replace(tzinfo=None),
            "region": region,
        },
    ).fetchall()
    return None if not row or row[0][0] is None else float(row[0][0])


def covers(stored: Sequence[date | None], wanted: Sequence[date]) -> bool:
    """Whether a stored (first_day, last_day) range contains the wanted one."""
    first, last = stored
    return first is not None and last is not None and first <= wanted[0] and last >= wanted[1]
