"""Salesforce-shaped record Ids for the dev org: key prefix, a counter, the 3-character checksum."""

from __future__ import annotations

import itertools
import threading

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

KEY_PREFIXES = {
    "Lead": "00Q",
    "Task": "00T",
    "Contact": "003",
    "Account": "001",
    "User": "005",
    "Group": "00G",
    "EmailMessage": "02s",
    "EmailMessageRelation": "0BR",
    "Organization": "00D",
    "QueryLocator": "01g",
    "BulkJob": "750",
}


def checksum(id15: str) -> str:
    """The case-safe suffix: per 5-character block, bit i set when character i is upper case."""
    out = []
    for block in range(3):
        bits = 0
        for i, ch in enumerate(id15[block * 5 : block * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def to18(id15: str) -> str:
    return id15 if len(id15) == 18 else id15 + checksum(id15)


def make_id(prefix: str, number: int, pod: str = "5e") -> str:
    """An 18-character Id: 3-char prefix, 2-char pod, 10 base-62 digits of `number`, checksum."""
    digits = []
    n = number
    for _ in range(10):
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    return to18(prefix + pod + "".join(reversed(digits)))


def is_valid_id(value: str, prefix: str | None = None) -> bool:
    if not isinstance(value, str) or len(value) not in (15, 18) or not value.isalnum():
        return False
    if len(value) == 18 and checksum(value[:15]) != value[15:]:
        return False
    return prefix is None or value.startswith(prefix)


class IdFactory:
    """Thread-safe Ids per key prefix; `start` keeps a seeded data set and later inserts apart."""

    def __init__(self, start: int = 1, pod: str = "5e") -> None:
        self._counter = itertools.count(start)
        self._lock = threading.Lock()
        self._pod = pod

    def new(self, sobject: str) -> str:
        with self._lock:
            n = next(self._counter)
        return make_id(KEY_PREFIXES[sobject], n, self._pod)
