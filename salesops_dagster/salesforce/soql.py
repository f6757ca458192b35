"""SOQL built only from validated values: the one place that formats timestamps and checks Ids."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

# 15-character case-sensitive or 18-character case-safe Ids.
_ID_PATTERN = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class InvalidSoqlValue(ValueError):
    """A value that must never reach a SOQL string (a bad Id, a naive datetime, a bad name)."""


def soql_datetime(value: datetime) -> str:
    """Format a timezone-aware datetime as a SOQL dateTime literal (UTC, milliseconds, `Z`).

    Naive datetimes are refused: their meaning depends on the machine's clock, and a `+` offset
    would need URL-encoding that some clients get wrong (Salesforce then answers MALFORMED_QUERY).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidSoqlValue(f"naive datetime {value!r}: SOQL timestamps must be timezone-aware")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def parse_sf_datetime(value: str) -> datetime:
    """Parse a dateTime as the REST API returns it (`2026-11-02T09:00:00.000+0000`) or Bulk CSV
    (`...000Z`) into an aware UTC datetime."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text).astimezone(UTC)


def sf_id(value: str) -> str:
    """Return `value` if it is a well-formed Salesforce Id, else raise InvalidSoqlValue."""
    if not isinstance(value, str) or not _ID_PATTERN.match(value):
        raise InvalidSoqlValue(f"not a Salesforce Id: {value!r}")
    return value


def soql_id_list(values: Iterable[str]) -> str:
    """`('00Q...','00Q...')` for an IN clause, every element validated as an Id."""
    ids = [sf_id(v) for v in values]
    if not ids:
        raise InvalidSoqlValue("an IN list needs at least one Id")
    return "(" + ",".join(f"'{i}'" for i in ids) + ")"


def soql_name(value: str) -> str:
    """An object or field API name (letters, digits, underscores), validated."""
    if not isinstance(value, str) or not _NAME_PATTERN.match(value):
        raise InvalidSoqlValue(f"not a Salesforce API name: {value!r}")
    return value
