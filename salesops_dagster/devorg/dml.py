"""Salesforce's record-write rules in the dev org: what a create, update or delete may do.

Used by the single-record REST calls, sObject Collections, composite subrequests and Bulk 2.0
ingest. Request-level problems (an unknown field, a value of the wrong type) raise `RequestError`,
which fails the whole call; per-record problems come back as `SaveError`s, which end up in a 4xx
body for a single-record call and in a SaveResult for Collections and Bulk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from salesops_dagster.devorg.ids import KEY_PREFIXES, is_valid_id, to18
from salesops_dagster.devorg.schema import (
    INSERTABLE_AUDIT_FIELDS,
    READ_ONLY_FIELDS,
    REF,
    OrgSchema,
)
from salesops_dagster.devorg.stats import Stats, auto_assign_bucket
from salesops_dagster.devorg.store import Store
from salesops_dagster.devorg.values import BadValue, coerce_json

REQUIRED_ON_CREATE = {
    "Lead": ("LastName", "Company"),
    "Contact": ("LastName",),
    "Account": ("Name",),
    "Group": ("Name",),
    "User": ("LastName", "Username", "Email"),
}
# Who may own a record of each type: Users, and for Leads also queues (Group Type = Queue).
OWNER_PREFIXES = {"Lead": ("005", "00G")}
DEFAULT_OWNER_PREFIXES = ("005",)


@dataclass
class SaveError:
    """One error of a record write, as Salesforce reports it."""

    status_code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def as_status_error(self) -> dict[str, Any]:
        """SaveResult form (`statusCode`, fields always present)."""
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}

    def as_envelope(self) -> dict[str, Any]:
        """REST error envelope element (`errorCode`)."""
        return {"message": self.message, "errorCode": self.status_code, "fields": self.fields}

    def as_bulk(self) -> str:
        """Bulk 2.0 `sf__Error` cell: `CODE:message:Field1,Field2 --`, or `CODE:message:--`."""
        fields = f"{','.join(self.fields)} " if self.fields else ""
        return f"{self.status_code}:{self.message}:{fields}--"

    def http_status(self) -> int:
        return 404 if self.status_code in ("NOT_FOUND", "ENTITY_IS_DELETED") else 400


class RequestError(Exception):
    """A failure of the whole request: HTTP status and one REST error envelope element."""

    def __init__(
        self, status: int, error_code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]


ROLLED_BACK = SaveError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone "
    "header",
)


def malformed_id(sobject: str, value: object) -> SaveError:
    return SaveError("MALFORMED_ID", f"{sobject} ID: id value of incorrect type: {value}", ["Id"])


class Dml:
    """Validates and applies writes against the store; counts them in the stats."""

    def __init__(
        self,
        schema: OrgSchema,
        store: Store,
        stats: Stats,
        assignment_owner: Callable[[], str | None],
    ) -> None:
        self.schema = schema
        self.store = store
        self.stats = stats
        self._assignment_owner = assignment_owner

    # ------------------------------------------------------------------ request-level checks

    def prepare(self, sobject: str, body: dict[str, Any]) -> dict[str, Any]:
        """Canonical field names and stored-form values; raises RequestError.

        `attributes` and the collections `id` key are not fields and must be removed by the
        caller first.
        """
        fields = self.schema.fields[sobject]
        out: dict[str, Any] = {}
        for name, value in body.items():
            canonical = self.schema.field(sobject, name)
            if canonical is None:
                raise RequestError(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}"
                )
            try:
                out[canonical] = coerce_json(value, fields[canonical])
            except BadValue as exc:
                raise RequestError(400, "JSON_PARSER_ERROR", str(exc)) from exc
        return out

    # ------------------------------------------------------------------ per-record checks

    def resolve_id(self, sobject: str, value: object) -> str | SaveError:
        """An 18-character Id of `sobject`'s key prefix, or MALFORMED_ID."""
        prefix = KEY_PREFIXES.get(sobject)
        if not isinstance(value, str) or not is_valid_id(value, prefix):
            return malformed_id(sobject, value)
        return to18(value)

    def _read_only_error(self, values: dict[str, Any], creating: bool) -> SaveError | None:
        blocked = READ_ONLY_FIELDS if creating else READ_ONLY_FIELDS | INSERTABLE_AUDIT_FIELDS
        bad = [name for name in values if name in blocked]
        if not bad:
            return None
        return SaveError(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(bad)}. Please check the security "
            "settings of this field and verify that it is read/write for your profile or "
            "permission set.",
            bad,
        )

    def _value_errors(
        self, sobject: str, values: dict[str, Any], creating: bool
    ) -> list[SaveError]:
        errors: list[SaveError] = []
        required = REQUIRED_ON_CREATE.get(sobject, ())
        missing = [
            name
            for name in required
            if (values.get(name) in (None, "") if creating or name in values else False)
        ]
        if missing:
            errors.append(
                SaveError(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
            )
        types = self.schema.fields[sobject]
        for name, value in values.items():
            if name == "OwnerId":
                owner_error = self._owner_error(sobject, value)
                if owner_error:
                    errors.append(owner_error)
            elif types[name] == REF and value is not None and not is_valid_id(value):
                errors.append(
                    SaveError(
                        "FIELD_INTEGRITY_EXCEPTION",
                        f"{name}: id value of incorrect type: {value}",
                        [name],
                    )
                )
        return errors

    def _owner_error(self, sobject: str, owner_id: object) -> SaveError | None:
        if owner_id is None:
            return SaveError(
                "REQUIRED_FIELD_MISSING", "Required fields are missing: [OwnerId]", ["OwnerId"]
            )
        prefixes = OWNER_PREFIXES.get(sobject, DEFAULT_OWNER_PREFIXES)
        if not isinstance(owner_id, str) or not any(is_valid_id(owner_id, p) for p in prefixes):
            return SaveError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"Owner ID: id value of incorrect type: {owner_id}",
                ["OwnerId"],
            )
        owner_type = "User" if owner_id.startswith("005") else "Group"
        owner = self.store.get(owner_type, owner_id)
        if owner is None or (owner_type == "Group" and owner.get("Type") != "Queue"):
            return SaveError(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["OwnerId"]
            )
        if owner_type == "User" and owner.get("IsActive") is False:
            return SaveError(
                "INACTIVE_OWNER_OR_USER",
                f"operation performed with inactive user [{owner_id}] as owner of "
                f"{sobject.lower()}",
            )
        return None

    def _existing_error(self, sobject: str, record: dict[str, Any] | None) -> SaveError | None:
        # A well-formed Id that no longer exists was most likely purged from the recycle bin;
        # Collections and Bulk then say ENTITY_IS_DELETED (single-record REST says 404).
        if record is None or record.get("IsDeleted"):
            return SaveError("ENTITY_IS_DELETED", "entity is deleted")
        if sobject == "Lead" and record.get("IsConverted"):
            return SaveError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        return None

    def _apply_assignment_rule(
        self, sobject: str, values: dict[str, Any], auto_assign: str | None
    ) -> None:
        # Sforce-Auto-Assign absent or TRUE (or an AssignmentRule Id) runs the assignment rule.
        if sobject != "Lead":
            return
        owner = self._assignment_owner()
        if owner and auto_assign_bucket(auto_assign) != "FALSE":
            values["OwnerId"] = owner

    # ------------------------------------------------------------------ writes

    def create(
        self,
        sobject: str,
        values: dict[str, Any],
        user_id: str,
        auto_assign: str | None = None,
        *,
        via_bulk: bool = False,
        tally: list[tuple[str, str]] | None = None,
    ) -> tuple[str | None, list[SaveError]]:
        """Insert one record; returns (new Id, []) or (None, errors)."""
        if "Id" in values:
            return None, [
                SaveError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "cannot specify Id in an insert call",
                    ["Id"],
                )
            ]
        read_only = self._read_only_error(values, creating=True)
        if read_only:
            return None, [read_only]
        values = dict(values)
        if "OwnerId" in self.schema.fields[sobject]:
            values.setdefault("OwnerId", user_id)
        errors = self._value_errors(sobject, values, creating=True)
        if errors:
            return None, errors
        if not via_bulk:
            self._apply_assignment_rule(sobject, values, auto_assign)
        with self.store.lock:
            record = self.store.insert(sobject, values, user_id)
        self._count(sobject, auto_assign, via_bulk, tally)
        return record["Id"], []

    def update(
        self,
        sobject: str,
        record_id: str,
        values: dict[str, Any],
        user_id: str,
        auto_assign: str | None = None,
        *,
        via_bulk: bool = False,
        tally: list[tuple[str, str]] | None = None,
    ) -> list[SaveError]:
        """Update one existing record (Id already resolved); returns its errors."""
        values = dict(values)
        if "Id" in values:
            if values["Id"] not in (record_id, record_id[:15]):
                return [self._read_only_error({"Id": None}, creating=False)]  # type: ignore[list-item]
            del values["Id"]
        read_only = self._read_only_error(values, creating=False)
        if read_only:
            return [read_only]
        with self.store.lock:
            existing = self._existing_error(sobject, self.store.get(sobject, record_id))
            if existing:
                return [existing]
            errors = self._value_errors(sobject, values, creating=False)
            if errors:
                return errors
            if not via_bulk:
                self._apply_assignment_rule(sobject, values, auto_assign)
            self.store.update(sobject, record_id, values, user_id)
        self._count(sobject, auto_assign, via_bulk, tally)
        return []

    def delete(
        self,
        sobject: str,
        record_id: str,
        user_id: str,
        *,
        tally: list[tuple[str, str]] | None = None,
    ) -> list[SaveError]:
        """Soft delete (recycle bin)."""
        if "IsDeleted" not in self.schema.fields[sobject]:
            return [SaveError("INVALID_TYPE_FOR_OPERATION", "entity type cannot be deleted")]
        with self.store.lock:
            record = self.store.get(sobject, record_id)
            if record is None or record.get("IsDeleted"):
                return [SaveError("ENTITY_IS_DELETED", "entity is deleted")]
            self.store.soft_delete(sobject, record_id, user_id)
        self._count(sobject, None, False, tally, is_delete=True)
        return []

    def _count(
        self,
        sobject: str,
        auto_assign: str | None,
        via_bulk: bool,
        tally: list[tuple[str, str]] | None,
        is_delete: bool = False,
    ) -> None:
        """Count a write now, or in `tally` when the caller commits (or rolls back) later."""
        bucket = "" if is_delete else "bulk" if via_bulk else auto_assign_bucket(auto_assign)
        if tally is not None:
            tally.append((sobject, bucket))
        else:
            self.commit_tally([(sobject, bucket)])

    def commit_tally(self, tally: list[tuple[str, str]]) -> None:
        for sobject, bucket in tally:
            self.stats.written(sobject, 1, bucket or None)
