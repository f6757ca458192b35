"""Salesforce value formats in the dev org: dateTime rendering and parsing, and field coercion.

REST returns dateTimes as `yyyy-MM-ddTHH:mm:ss.SSS+0000` (UTC, offset without a colon) and accepts
`...SSSZ` or `...SSS+HH:mm` on input; Bulk 2.0 CSV renders them as `...SSSZ`. Stored records keep
the REST form, which sorts lexicographically in time order.
"""

from __future__ import annotations

import datetime as dt
import re

from salesops_dagster.devorg.schema import BOOL, DATE, DATETIME, DOUBLE, ID, INT, REF, STR

_DATETIME_INPUT = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(\.\d{1,9})?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)
_DATE_INPUT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class BadValue(ValueError):
    """A value that does not fit its field's type (Salesforce: JSON_PARSER_ERROR and friends)."""


def format_datetime(value: dt.datetime) -> str:
    """REST form: `2026-11-02T09:00:00.000+0000` (always UTC, milliseconds)."""
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def datetime_from_epoch_ms(ms: int) -> dt.datetime:
    """Exact (no float rounding) aware UTC datetime of an epoch-milliseconds instant."""
    seconds, millis = divmod(ms, 1000)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=millis * 1000)


def format_epoch_ms(ms: int) -> str:
    """REST form of a UTC epoch-milliseconds instant."""
    return format_datetime(datetime_from_epoch_ms(ms))


def is_rest_datetime(value: object) -> bool:
    """Cheap check for the canonical stored form (`....SSS+0000`, 28 characters)."""
    return isinstance(value, str) and len(value) == 28 and value.endswith("+0000")


def parse_datetime(text: str, *, require_offset: bool = True) -> dt.datetime:
    """Parse an ISO-8601 dateTime as Salesforce accepts it into an aware UTC datetime.

    Raises BadValue on anything else, including (when `require_offset`) a value without an
    offset: Salesforce would read it as GMT, but a missing offset usually means a naive datetime
    on the caller's side.
    """
    m = _DATETIME_INPUT.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise BadValue(f"invalid dateTime: {text!r}")
    day, clock, frac, offset = m.groups()
    if offset is None:
        if require_offset:
            raise BadValue(f"dateTime without a time zone offset: {text!r}")
        offset = "+00:00"
    elif offset == "Z":
        offset = "+00:00"
    elif ":" not in offset:
        offset = offset[:3] + ":" + offset[3:]
    if len(clock) == 5:
        clock += ":00"
    micros = (frac or ".0")[1:7].ljust(6, "0")
    try:
        parsed = dt.datetime.fromisoformat(f"{day}T{clock}.{micros}{offset}")
    except ValueError as exc:
        raise BadValue(f"invalid dateTime: {text!r}") from exc
    return parsed.astimezone(dt.UTC)


def normalize_datetime(value: object) -> object:
    """Stored form of a dateTime value (None and already-canonical strings pass through)."""
    if value is None or is_rest_datetime(value):
        return value
    if isinstance(value, str):
        return format_datetime(parse_datetime(value, require_offset=False))
    raise BadValue(f"invalid dateTime: {value!r}")


def csv_datetime(value: str) -> str:
    """Bulk 2.0 CSV form of a stored dateTime: `2026-11-02T09:00:00.000Z`."""
    if value.endswith("+0000"):
        return value[:-5] + "Z"
    return value


def coerce_json(value: object, field_type: str) -> object:
    """Coerce a JSON body value to the stored form of `field_type` (raises BadValue)."""
    if value is None:
        return None
    if field_type in (STR, ID, REF):
        if isinstance(value, bool | dict | list):
            raise BadValue(f"Cannot deserialize instance of string from {value!r}")
        return value if isinstance(value, str) else str(value)
    if field_type == BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise BadValue(f"Cannot deserialize instance of boolean from {value!r}")
    if field_type in (DOUBLE, INT):
        if isinstance(value, bool):
            raise BadValue(f"Cannot deserialize instance of double from {value!r}")
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError as exc:
            raise BadValue(f"Cannot deserialize instance of double from {value!r}") from exc
        if not isinstance(number, int | float):
            raise BadValue(f"Cannot deserialize instance of double from {value!r}")
        if field_type == INT:
            if float(number) != int(number):
                raise BadValue(f"Cannot deserialize instance of int from {value!r}")
            return int(number)
        return float(number)
    if field_type == DATETIME:
        if not isinstance(value, str):
            raise BadValue(f"Cannot deserialize instance of datetime from {value!r}")
        return format_datetime(parse_datetime(value, require_offset=False))
    if field_type == DATE:
        if not isinstance(value, str) or not _DATE_INPUT.match(value):
            raise BadValue(f"Cannot deserialize instance of date from {value!r}")
        try:
            dt.date.fromisoformat(value)
        except ValueError as exc:
            raise BadValue(f"Cannot deserialize instance of date from {value!r}") from exc
        return value
    return value


def coerce_csv(text: str, field_type: str) -> object:
    """Coerce a Bulk CSV cell (already known not to be empty or `#N/A`) to its stored form."""
    if field_type == BOOL:
        low = text.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise BadValue(f"value not of required type: {text}")
    if field_type in (DOUBLE, INT):
        try:
            number = float(text)
        except ValueError as exc:
            raise BadValue(f"value not of required type: {text}") from exc
        if field_type == INT:
            if number != int(number):
                raise BadValue(f"value not of required type: {text}")
            return int(number)
        return number
    try:
        return coerce_json(text, field_type)
    except BadValue as exc:
        raise BadValue(f"value not of required type: {text}") from exc
