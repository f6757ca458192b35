"""The one policy loader: read the file, validate it completely, return it typed with its sha256.

```python
loaded = load_policy("policies/routing_policy.json", **known_ids(con))
loaded.policy.policy_version, loaded.sha256
```

A bad policy raises PolicyError listing every problem as `FILE: PATH: reason`, before anything is
routed. `known_ids(con)` reads the warehouse's User and queue Ids so unknown ones are caught too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from salesops_dagster.policy.models import RoutingPolicy
from salesops_dagster.policy.validate import Problem, validate_document
from salesops_dagster.warehouse.connection import table_exists


class PolicyError(Exception):
    """A policy that cannot be used, with every problem found (file, JSON path, reason)."""

    def __init__(self, file: str | Path, problems: Sequence[Problem]) -> None:
        self.file = str(file)
        self.problems = list(problems)
        super().__init__(self.file, self.problems)

    def __str__(self) -> str:
        return "\n".join(problem.format(self.file) for problem in self.problems)


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy, the sha256 of its file's exact bytes, and where it came from."""

    policy: RoutingPolicy
    sha256: str
    path: Path

    @property
    def version(self) -> str:
        return self.policy.policy_version


def load_policy(
    path: str | Path,
    *,
    known_users: Mapping[str, bool] | None = None,
    known_queues: set[str] | frozenset[str] | None = None,
) -> LoadedPolicy:
    """Read, validate and type a policy file.

    `known_users` ({User Id: IsActive}) and `known_queues` (queue Ids), when given, make unknown
    Ids (and an inactive fallback user) problems too. Raises PolicyError with all problems.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PolicyError(path, [Problem("$", f"cannot read the file: {error.strerror}")]) from None
    policy, problems = validate_document(data, known_users=known_users, known_queues=known_queues)
    if problems or policy is None:
        raise PolicyError(path, problems)
    return LoadedPolicy(policy=policy, sha256=hashlib.sha256(data).hexdigest(), path=path)


def known_ids(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """`known_users` ({Id: IsActive}) and `known_queues` from `salesforce."user"` / `"group"`.

    Keyword arguments for `load_policy`; a table not loaded yet gives None (that check is
    skipped, not failed).
    """
    known_users = None
    known_queues = None
    if table_exists(con, "salesforce", "user"):
        known_users = {
            user_id: bool(active)
            for user_id, active in con.execute(
                'SELECT "Id", coalesce("IsActive", false) FROM salesforce."user"'
            ).fetchall()
        }
    if table_exists(con, "salesforce", "group"):
        known_queues = {
            row[0]
            for row in con.execute(
                'SELECT "Id" FROM salesforce."group" WHERE "Type" = \'Queue\''
            ).fetchall()
        }
    return {"known_users": known_users, "known_queues": known_queues}
