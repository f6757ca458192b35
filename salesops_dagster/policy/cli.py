"""`salesops policy validate FILE` and `salesops policy backtest FILE [--since DATE]`.

Both return the process exit code: 0 when all is well, 1 when the policy has problems, 2 when the
command cannot run (no such warehouse, a bad --since).
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

from salesops_dagster.policy.loader import PolicyError, known_ids, load_policy
from salesops_dagster.warehouse.connection import connect


def _parse_since(since: str | date | datetime | None) -> date | datetime | None:
    if since is None or isinstance(since, date):
        return since
    try:
        if "T" in since or " " in since.strip():
            parsed = datetime.fromisoformat(since.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return date.fromisoformat(since)
    except ValueError:
        raise ValueError(
            f"--since {since!r} is not a date (YYYY-MM-DD) or an ISO date-time"
        ) from None


def validate_command(
    path: str | Path, warehouse: str | Path | None = None, *, out: TextIO | None = None
) -> int:
    """Validate a policy file; print every problem as `FILE: PATH: reason`.

    With `warehouse` (a DuckDB file), user and queue Ids are checked against its
    `salesforce."user"` and `salesforce."group"` tables. Returns 0 when valid, 1 when not, 2 when
    the warehouse file does not exist.
    """
    out = out or sys.stdout
    known: dict = {}
    if warehouse is not None:
        if not Path(warehouse).exists():
            print(f"{warehouse}: no such warehouse file", file=out)
            return 2
        with connect(warehouse, read_only=True) as con:
            known = known_ids(con)
    try:
        loaded = load_policy(path, **known)
    except PolicyError as error:
        print(error, file=out)
        count = len(error.problems)
        print(
            f"{path}: {count} problem{'s' if count != 1 else ''}; the policy was not loaded",
            file=out,
        )
        return 1
    checked = " (Ids checked against the warehouse)" if warehouse is not None else ""
    print(
        f"{path}: valid{checked}: policy_version {loaded.version}, sha256 {loaded.sha256}",
        file=out,
    )
    return 0


def backtest_command(
    path: str | Path,
    warehouse: str | Path,
    since: str | date | datetime | None = None,
    csv_out: str | Path | None = None,
    *,
    out: TextIO | None = None,
) -> int:
    """Replay a policy over the decisions in the warehouse (read-only) and print a Markdown table.

    `since`: only leads created on or after this date (YYYY-MM-DD, UTC midnight) or date-time.
    `csv_out`: also write the rows as CSV there. Returns 0 on success, 1 for a bad policy, 2 when
    the command cannot run.
    """
    out = out or sys.stdout
    try:
        since_value = _parse_since(since)
    except ValueError as error:
        print(error, file=out)
        return 2
    if not Path(warehouse).exists():
        print(f"{warehouse}: no such warehouse file", file=out)
        return 2
    from salesops_dagster.routing.backtest import backtest

    with connect(warehouse, read_only=True) as con:
        try:
            loaded = load_policy(path, **known_ids(con))
        except PolicyError as error:
            print(error, file=out)
            return 1
        report = backtest(con, loaded, since=since_value)
    print(report.to_markdown(), file=out, end="")
    if csv_out is not None:
        written = report.to_csv(csv_out)
        print(f"\nCSV written to {written}", file=out)
    return 0
