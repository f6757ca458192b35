"""What a check found: how many rows break its rule, and a sample a person can look up.

Routing and TTFR checks both return a `Finding`; the Dagster asset checks render it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

SAMPLE = 20


@dataclass
class Finding:
    count: int = 0
    # what a person looks up (a lead, a decision, a pool member) -> what is wrong with it
    sample: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, problems: Mapping[str, str], limit: int = SAMPLE) -> Finding:
        """All `problems`, counted, with the first `limit` by key as the sample."""
        keys = sorted(problems)[:limit]
        return cls(len(problems), {key: problems[key] for key in keys})

    def add(self, key: str, note: str) -> None:
        self.count += 1
        if len(self.sample) < SAMPLE:
            self.sample[key] = note

    def merged(self, other: Finding) -> Finding:
        sample = {**self.sample, **other.sample}
        return Finding(self.count + other.count, dict(list(sample.items())[:SAMPLE]))

    @property
    def passed(self) -> bool:
        return self.count == 0

    @property
    def keys(self) -> list[str]:
        return list(self.sample)

    def markdown(self) -> str:
        return "\n".join(f"- {key}: {note}" for key, note in self.sample.items())
