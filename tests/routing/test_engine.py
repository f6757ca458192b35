"""The routing engine: properties on random policies and lead streams, and the documented rules."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from salesops_dagster.devorg import synthetic
from salesops_dagster.policy import LoadedPolicy
from salesops_dagster.routing.candidates import Candidate, candidates_from_records
from salesops_dagster.routing.decisions import RoutingDecision, decision_id, history_of
from salesops_dagster.routing.engine import Engine, decide
from tests.routing import FALLBACK_QUEUE, REPS, business_hours, loaded, simple_policy

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
ZONES = ("UTC", "America/New_York", "Asia/Tokyo")
COUNTRIES = ("Japan", "Germany", "United States", None)
PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- strategies -----------------------------------------------------------------------------------


@st.composite
def members(draw, *, caps: bool = True, ooo: bool = True) -> list[dict[str, Any]]:
    users = draw(st.lists(st.sampled_from(REPS), min_size=1, max_size=5, unique=True))
    out = []
    for user_id in users:
        member: dict[str, Any] = {
            "user_id": user_id,
            "weight": draw(st.sampled_from([1, 2, 3, 0.5, 1.5])),
        }
        if caps and draw(st.booleans()):
            member["daily_cap"] = draw(st.integers(1, 6))
        if caps and draw(st.booleans()):
            member["period_cap"] = {"days": draw(st.integers(1, 3)), "max": draw(st.integers(1, 8))}
        if ooo and draw(st.booleans()):
            start = T0 + timedelta(hours=draw(st.integers(0, 72)))
            end = start + timedelta(hours=draw(st.integers(1, 48)))
            member["out_of_office"] = [{"start": start.isoformat(), "end": end.isoformat()}]
        out.append(member)
    return out


@st.composite
def policies(draw, *, caps: bool = True, ooo: bool = True) -> LoadedPolicy:
    """Two segments by company size, two regions by country, a pool per pair (or a "*" pool)."""
    segments = [
        {
            "name": "big",
            "rules": [
                {
                    "name": "size",
                    "when": {
                        "field": "NumberOfEmployees",
                        "op": ">=",
                        "value": draw(st.integers(1, 5000)),
                    },
                }
            ],
            "sla_minutes": 30,
        },
        {"name": "small", "rules": [], "sla_minutes": 240},
    ]
    regions = [
        {
            "name": "apac",
            "rules": [{"name": "jp", "when": {"field": "Country", "op": "in", "value": ["Japan"]}}],
            "business_hours": business_hours(draw(st.sampled_from(ZONES))),
        },
        {
            "name": "rest",
            "rules": [],
            "business_hours": business_hours(draw(st.sampled_from(ZONES))),
        },
    ]
    pools = []
    for segment in ("big", "small"):
        if draw(st.booleans()):
            pools.append(
                {
                    "name": f"{segment}-all",
                    "segment": segment,
                    "region": "*",
                    "members": draw(members(caps=caps, ooo=ooo)),
                }
            )
        else:
            for region in ("apac", "rest"):
                pool: dict[str, Any] = {
                    "name": f"{segment}-{region}",
                    "segment": segment,
                    "region": region,
                    "members": draw(members(caps=caps, ooo=ooo)),
                }
                if draw(st.integers(0, 4)) == 0:
                    pool["fallback"] = {"owner_id": synthetic.ADMIN_USER_ID}
                pools.append(pool)
    doc = simple_policy(
        pools,
        segments=segments,
        regions=regions,
        default_segment="small",
        default_region="rest",
    )
    return loaded(doc)


@st.composite
def lead_streams(draw, *, max_size: int = 80) -> list[dict[str, Any]]:
    n = draw(st.integers(0, max_size))
    gaps = draw(st.lists(st.integers(0, 240), min_size=n, max_size=n))
    ids = draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n, unique=True))
    out = []
    at = T0
    for gap, number in zip(gaps, ids, strict=True):
        at += timedelta(minutes=gap)  # gaps of 0: equal CreatedDate, ordered by Id
        out.append(
            {
                "Id": f"00Q5e{number:010d}AAA",
                "CreatedDate": at,
                "NumberOfEmployees": draw(st.one_of(st.none(), st.integers(1, 10000))),
                "Country": draw(st.sampled_from(COUNTRIES)),
            }
        )
    return out


def run_once(
    policy: LoadedPolicy, leads: list[dict[str, Any]], **kwargs: Any
) -> list[RoutingDecision]:
    return decide(policy, candidates_from_records(policy.policy, leads), **kwargs).decisions


def keys(decisions: list[RoutingDecision]) -> list[tuple]:
    return [d.key() for d in decisions]


# --- determinism ----------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(policy=policies(), leads=lead_streams(), data=st.data())
def test_identical_across_reruns_and_any_split_into_batches(
    policy: LoadedPolicy, leads: list[dict[str, Any]], data: st.DataObject
) -> None:
    one_batch = run_once(policy, leads)
    assert keys(run_once(policy, list(reversed(leads)))) == keys(
        one_batch
    )  # input order is irrelevant
    assert len(one_batch) == len(leads)

    ordered = sorted(leads, key=lambda lead: (lead["CreatedDate"], lead["Id"]))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(ordered)), max_size=5)))
    history: list[RoutingDecision] = []
    for start, end in zip([0, *cuts], [*cuts, len(ordered)], strict=True):
        # Each batch is a separate engine: only the stored decisions carry state.
        history += run_once(policy, ordered[start:end], history=history_of(history))
    assert keys(history) == keys(one_batch)


def test_decision_id_is_a_function_of_lead_and_attempt() -> None:
    assert decision_id("00Q1", 1) == decision_id("00Q1", 1)
    assert len({decision_id("00Q1", 1), decision_id("00Q1", 2), decision_id("00Q2", 1)}) == 3


# --- shares, caps, out of office ------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    weights=st.lists(st.sampled_from([1, 2, 3, 5, 0.5, 1.5, 2.5]), min_size=1, max_size=8),
    n=st.integers(200, 1500),
)
def test_shares_follow_weights(weights: list[float], n: int) -> None:
    pool = {
        "name": "p",
        "segment": "all",
        "region": "world",
        "members": [{"user_id": REPS[i], "weight": w} for i, w in enumerate(weights)],
    }
    policy = loaded(simple_policy([pool]))
    leads = [{"Id": f"00Q{i:012d}", "CreatedDate": T0 + timedelta(minutes=i)} for i in range(n)]
    decisions = run_once(policy, leads)
    total = sum(weights)
    running: Counter = Counter()
    for k, d in enumerate(decisions, start=1):
        running[d.owner_id] += 1
        # At every point of the stream, not only at the end.
        worst = max(abs(running[REPS[i]] - k * w / total) for i, w in enumerate(weights))
        assert worst < 1.5, (weights, k, running)
    counts = Counter(d.owner_id for d in decisions)
    for i, weight in enumerate(weights):
        expected = n * weight / total
        # Each member stays within about one lead of its exact share.
        assert abs(counts[REPS[i]] - expected) < 1.5, (weights, n, counts)
        assert abs(counts[REPS[i]] / n - weight / total) <= 0.01
    assert not any(d.is_fallback for d in decisions)


@PROPERTY_SETTINGS
@given(policy=policies(), leads=lead_streams(max_size=150))
def test_caps_hold_and_out_of_office_members_get_nothing(
    policy: LoadedPolicy, leads: list[dict[str, Any]]
) -> None:
    decisions = run_once(policy, leads)
    pools = {p.name: p for p in policy.policy.pools}
    per_day: Counter = Counter()
    times: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for d in decisions:
        pool = pools[d.pool]
        if d.is_fallback:
            assert d.owner_id == policy.policy.fallback_for(pool)
            continue
        member = next(m for m in pool.members if m.user_id == d.owner_id)
        for window in member.out_of_office:
            assert not (window.start <= d.decided_at < window.end), (d, window)
        day = d.decided_at.astimezone(policy.policy.pool_time_zone(pool)).date()
        per_day[(d.pool, d.owner_id, day)] += 1
        if member.daily_cap is not None:
            assert per_day[(d.pool, d.owner_id, day)] <= member.daily_cap
        if member.period_cap is not None:
            span = timedelta(days=member.period_cap.days)
            previous = times[(d.pool, d.owner_id)]
            in_window = [t for t in previous if t > d.decided_at - span]
            assert len(in_window) + 1 <= member.period_cap.max
        times[(d.pool, d.owner_id)].append(d.decided_at)


@PROPERTY_SETTINGS
@given(policy=policies(), leads=lead_streams(), data=st.data())
def test_nobody_gets_a_lead_they_already_had(
    policy: LoadedPolicy, leads: list[dict[str, Any]], data: st.DataObject
) -> None:
    assume(leads)
    engine_history = run_once(policy, leads)
    by_lead = {d.lead_id: d for d in engine_history}
    had: dict[str, set[str]] = {d.lead_id: {d.owner_id} for d in engine_history}
    lead_by_id = {lead["Id"]: lead for lead in leads}
    for attempt in (2, 3, 4):
        handed_back = data.draw(
            st.lists(st.sampled_from(sorted(by_lead)), unique=True, max_size=10)
        )
        attempts = {lead_id: (attempt, had[lead_id]) for lead_id in handed_back}
        records = [
            {
                **lead_by_id[lead_id],
                "LastModifiedDate": lead_by_id[lead_id]["CreatedDate"] + timedelta(days=attempt),
            }
            for lead_id in handed_back
        ]
        candidates = candidates_from_records(policy.policy, records, attempts=attempts)
        result = decide(policy, candidates, history=history_of(engine_history))
        for d in result.decisions:
            assert d.attempt == attempt
            if not d.is_fallback:
                assert d.owner_id not in had[d.lead_id], d
            assert d.decided_at == lead_by_id[d.lead_id]["CreatedDate"] + timedelta(days=attempt)
            had[d.lead_id].add(d.owner_id)
            by_lead[d.lead_id] = d
        engine_history += result.decisions


# --- the documented rules, one by one -------------------------------------------------------------


def pool_of(*members: dict[str, Any], name: str = "p", **extra: Any) -> dict[str, Any]:
    return {"name": name, "segment": "all", "region": "world", "members": list(members), **extra}


def stream(n: int, *, minutes: int = 1, **fields: Any) -> list[dict[str, Any]]:
    return [
        {"Id": f"00Q{i:012d}", "CreatedDate": T0 + timedelta(minutes=i * minutes), **fields}
        for i in range(n)
    ]


def test_inactive_and_unknown_users_are_skipped_with_reasons() -> None:
    a, b, c = REPS[:3]
    policy = loaded(
        simple_policy(
            [
                pool_of(
                    {"user_id": a, "weight": 1},
                    {"user_id": b, "weight": 1},
                    {"user_id": c, "weight": 1},
                )
            ]
        )
    )
    decisions = run_once(policy, stream(6), active_users={a: True, b: False})
    assert {d.owner_id for d in decisions} == {a}
    assert decisions[0].reasons["skipped"] == [
        {"user_id": b, "why": "inactive"},
        {"user_id": c, "why": "unknown_user"},
    ]


def test_fallback_when_everyone_is_capped_and_pool_fallback_wins() -> None:
    a, b = REPS[:2]
    members = (
        {"user_id": a, "weight": 1, "daily_cap": 2},
        {"user_id": b, "weight": 1, "daily_cap": 1},
    )
    policy = loaded(simple_policy([pool_of(*members)]))
    decisions = run_once(policy, stream(5))
    assert [d.owner_id for d in decisions] == [a, b, a, FALLBACK_QUEUE, FALLBACK_QUEUE]
    assert [d.is_fallback for d in decisions] == [False, False, False, True, True]
    assert decisions[3].reasons["fallback"] == "no member is eligible"
    assert {s["why"] for s in decisions[3].reasons["skipped"]} == {"daily_cap"}
    # The next UTC day the caps start again.
    next_day = stream(1)[0] | {"Id": "00Q999", "CreatedDate": T0 + timedelta(days=1)}
    later = run_once(policy, [next_day], history=history_of(decisions))
    assert later[0].owner_id in {a, b} and not later[0].is_fallback

    own = loaded(simple_policy([pool_of(*members, fallback={"owner_id": synthetic.ADMIN_USER_ID})]))
    assert run_once(own, stream(5))[4].owner_id == synthetic.ADMIN_USER_ID


def test_daily_cap_counts_days_in_the_pool_region_time_zone() -> None:
    a = REPS[0]
    doc = simple_policy([pool_of({"user_id": a, "weight": 1, "daily_cap": 1})])
    doc["regions"][0]["business_hours"]["time_zone"] = "Asia/Tokyo"  # UTC+9
    policy = loaded(doc)
    # 14:00 and 16:00 UTC are different Tokyo days (23:00 and 01:00 local).
    leads = [
        {"Id": "00Q1", "CreatedDate": datetime(2026, 3, 2, 14, 0, tzinfo=UTC)},
        {"Id": "00Q2", "CreatedDate": datetime(2026, 3, 2, 16, 0, tzinfo=UTC)},
    ]
    assert [d.owner_id for d in run_once(policy, leads)] == [a, a]
    doc["regions"][0]["business_hours"]["time_zone"] = "UTC"
    assert [d.is_fallback for d in run_once(loaded(doc), leads)] == [False, True]


def test_out_of_office_window_is_half_open() -> None:
    a, b = REPS[:2]
    window = {"start": "2026-03-02T08:01:00Z", "end": "2026-03-02T08:03:00Z"}
    policy = loaded(
        simple_policy(
            [
                pool_of(
                    {"user_id": a, "weight": 10, "out_of_office": [window]},
                    {"user_id": b, "weight": 1},
                )
            ]
        )
    )
    owners = [d.owner_id for d in run_once(policy, stream(4))]
    assert owners == [a, b, b, a]  # away at 08:01 and 08:02, back at 08:03


def test_enrichment_wait() -> None:
    a = REPS[0]
    doc = simple_policy(
        [pool_of({"user_id": a, "weight": 1})],
        enrichment_wait={"required_fields": ["NumberOfEmployees"], "max_wait_minutes": 30},
    )
    policy = loaded(doc)
    created = T0
    missing = {"Id": "00Q1", "CreatedDate": created, "NumberOfEmployees": None}
    present = {
        "Id": "00Q2",
        "CreatedDate": created,
        "NumberOfEmployees": 50,
        "LastModifiedDate": created + timedelta(minutes=12),
    }
    early = decide(
        policy,
        candidates_from_records(policy.policy, [missing, present]),
        as_of=created + timedelta(minutes=20),
    )
    assert [w.lead_id for w in early.waiting] == ["00Q1"]
    assert early.waiting[0].route_by == created + timedelta(minutes=30)
    (decided,) = early.decisions
    assert decided.decided_at == created + timedelta(minutes=12)
    assert decided.reasons["decided_at_basis"] == "enrichment_complete"

    late = decide(
        policy,
        candidates_from_records(policy.policy, [missing]),
        as_of=created + timedelta(minutes=31),
    )
    assert late.waiting == []
    assert late.decisions[0].decided_at == created + timedelta(minutes=30)
    assert late.decisions[0].reasons["decided_at_basis"] == "enrichment_timeout"
    assert late.decisions[0].lead_created_at == created


def test_reasons_record_the_matched_rules() -> None:
    policy = loaded(
        simple_policy(
            [
                pool_of({"user_id": REPS[0], "weight": 1}),
                pool_of({"user_id": REPS[1], "weight": 1}, name="q") | {"segment": "big"},
            ],
            segments=[
                {
                    "name": "big",
                    "rules": [
                        {
                            "name": "1000+",
                            "when": {"field": "NumberOfEmployees", "op": ">=", "value": 1000},
                        }
                    ],
                    "sla_minutes": 5,
                },
                {"name": "all", "rules": [], "sla_minutes": 5},
            ],
        )
    )
    big, small = run_once(
        policy,
        [
            *stream(1, NumberOfEmployees=None),
            {"Id": "00Q0", "CreatedDate": T0 - timedelta(minutes=1), "NumberOfEmployees": 5000},
        ],
    )
    assert big.reasons["segment"] == {
        "name": "big",
        "rule": "1000+",
        "path": "$.segments[0].rules[0]",
    }
    assert big.reasons["region"] == {"name": "world", "default": True}
    assert big.reasons["fields"] == {"NumberOfEmployees": 5000}
    assert big.reasons["owner"] == {"user_id": REPS[1], "weight": 1, "assigned_before": 0}
    assert (big.pool, small.pool, small.segment) == ("q", "p", "all")
    assert small.reasons["segment"] == {"name": "all", "default": True}


def test_engine_state_carries_between_calls() -> None:
    policy = loaded(
        simple_policy(
            [pool_of({"user_id": REPS[0], "weight": 1}, {"user_id": REPS[1], "weight": 1})]
        )
    )
    leads = stream(10)
    engine = Engine(policy)
    first = engine.decide(candidates_from_records(policy.policy, leads[:5])).decisions
    second = engine.decide(candidates_from_records(policy.policy, leads[5:])).decisions
    assert keys(first + second) == keys(run_once(policy, leads))


def test_replayed_decision_time_is_kept() -> None:
    policy = loaded(simple_policy([pool_of({"user_id": REPS[0], "weight": 1})]))
    fixed = T0 + timedelta(days=3)
    candidate = Candidate("00Q1", T0, -1, -1, decided_at=fixed)
    (d,) = decide(policy, [candidate]).decisions
    assert d.decided_at == fixed and d.reasons["decided_at_basis"] == "replayed"


@pytest.mark.parametrize("n", [0, 1])
def test_small_streams(n: int) -> None:
    policy = loaded(simple_policy([pool_of({"user_id": REPS[0], "weight": 1})]))
    assert len(run_once(policy, stream(n))) == n
