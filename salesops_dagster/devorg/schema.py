"""The dev org's object model: which fields each sObject has and their SOQL types.

Standard fields are declared here; custom fields are loaded from SFDX source metadata
(`sf/force-app/main/default/objects/<Object>/fields/*.field-meta.xml`), so the dev org accepts
exactly the custom fields the shipped metadata defines and rejects the rest with INVALID_FIELD.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

# SOQL value types: id, reference, string, boolean, int, double, datetime, date.
ID, REF, STR, BOOL, INT, DOUBLE, DATETIME, DATE = (
    "id",
    "reference",
    "string",
    "boolean",
    "int",
    "double",
    "datetime",
    "date",
)

_AUDIT = {
    "CreatedDate": DATETIME,
    "CreatedById": REF,
    "LastModifiedDate": DATETIME,
    "LastModifiedById": REF,
    "SystemModstamp": DATETIME,
}

STANDARD_FIELDS: dict[str, dict[str, str]] = {
    "Lead": {
        "Id": ID,
        "IsDeleted": BOOL,
        "FirstName": STR,
        "LastName": STR,
        "Name": STR,
        "Company": STR,
        "Title": STR,
        "Email": STR,
        "Phone": STR,
        "Status": STR,
        "LeadSource": STR,
        "Industry": STR,
        "Rating": STR,
        "NumberOfEmployees": INT,
        "AnnualRevenue": DOUBLE,
        "Street": STR,
        "City": STR,
        "State": STR,
        "PostalCode": STR,
        "Country": STR,
        "OwnerId": REF,
        "IsConverted": BOOL,
        "ConvertedDate": DATE,
        "ConvertedAccountId": REF,
        "ConvertedContactId": REF,
        "ConvertedOpportunityId": REF,
        **_AUDIT,
    },
    "Task": {
        "Id": ID,
        "IsDeleted": BOOL,
        "WhoId": REF,
        "WhatId": REF,
        "Subject": STR,
        "Status": STR,
        "Priority": STR,
        "Type": STR,
        "TaskSubtype": STR,
        "OwnerId": REF,
        "ActivityDate": DATE,
        "CompletedDateTime": DATETIME,
        "IsClosed": BOOL,
        "IsArchived": BOOL,
        **_AUDIT,
    },
    "EmailMessage": {
        "Id": ID,
        "IsDeleted": BOOL,
        "ParentId": REF,
        "ActivityId": REF,
        "RelatedToId": REF,
        "Subject": STR,
        "FromAddress": STR,
        "FromName": STR,
        "ToAddress": STR,
        "CcAddress": STR,
        "BccAddress": STR,
        "Incoming": BOOL,
        "Status": STR,  # picklist '0' New .. '5' Draft
        "MessageDate": DATETIME,
        **_AUDIT,
    },
    "EmailMessageRelation": {
        "Id": ID,
        "IsDeleted": BOOL,
        "EmailMessageId": REF,
        "RelationId": REF,
        "RelationType": STR,  # FromAddress, ToAddress, CcAddress, BccAddress
        "RelationAddress": STR,
        "RelationObjectType": STR,
        "CreatedDate": DATETIME,
        "CreatedById": REF,
        "SystemModstamp": DATETIME,
    },
    # User and Group have no IsDeleted in Salesforce: users are deactivated, not deleted.
    "User": {
        "Id": ID,
        "Username": STR,
        "Name": STR,
        "FirstName": STR,
        "LastName": STR,
        "Email": STR,
        "IsActive": BOOL,
        "UserType": STR,
        "TimeZoneSidKey": STR,
        "Department": STR,
        **_AUDIT,
    },
    "Group": {
        "Id": ID,
        "Name": STR,
        "DeveloperName": STR,
        "Type": STR,  # Queue, Regular, ...
        "Email": STR,
        **_AUDIT,
    },
    "Contact": {
        "Id": ID,
        "IsDeleted": BOOL,
        "FirstName": STR,
        "LastName": STR,
        "Name": STR,
        "Email": STR,
        "AccountId": REF,
        "OwnerId": REF,
        **_AUDIT,
    },
    "Account": {
        "Id": ID,
        "IsDeleted": BOOL,
        "Name": STR,
        "OwnerId": REF,
        **_AUDIT,
    },
}

# Metadata field types to SOQL value types.
_METADATA_TYPES = {
    "DateTime": DATETIME,
    "Date": DATE,
    "Text": STR,
    "TextArea": STR,
    "LongTextArea": STR,
    "Email": STR,
    "Phone": STR,
    "Url": STR,
    "Picklist": STR,
    "Number": DOUBLE,
    "Currency": DOUBLE,
    "Percent": DOUBLE,
    "Checkbox": BOOL,
    "Lookup": REF,
}

# Fields Salesforce computes; a client write to them is INVALID_FIELD_FOR_INSERT_UPDATE.
READ_ONLY_FIELDS = frozenset(
    {
        "Id",
        "IsDeleted",
        "Name",
        "IsConverted",
        "ConvertedDate",
        "ConvertedAccountId",
        "ConvertedContactId",
        "ConvertedOpportunityId",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
        "IsClosed",
        "IsArchived",
    }
)

# CreatedDate may be set on insert ("Set Audit Fields upon Record Creation"), not on update.
INSERTABLE_AUDIT_FIELDS = frozenset({"CreatedDate"})

_METADATA_NS = {"md": "http://soap.sforce.com/2006/04/metadata"}


def default_metadata_dir() -> Path:
    """The repository's `sf/force-app/main/default` (the dev org ships with the project)."""
    return Path(__file__).resolve().parents[2] / "sf" / "force-app" / "main" / "default"


def load_custom_fields(metadata_dir: Path) -> dict[str, dict[str, str]]:
    """Custom fields per object from `<metadata_dir>/objects/<Object>/fields/*.field-meta.xml`."""
    out: dict[str, dict[str, str]] = {}
    objects = metadata_dir / "objects"
    if not objects.is_dir():
        return out
    for path in sorted(objects.glob("*/fields/*.field-meta.xml")):
        root = ET.parse(path).getroot()  # noqa: S314 (the project's own metadata files)
        full_name = root.findtext("md:fullName", namespaces=_METADATA_NS)
        md_type = root.findtext("md:type", namespaces=_METADATA_NS)
        if not full_name or md_type not in _METADATA_TYPES:
            raise ValueError(f"{path}: field metadata needs <fullName> and a known <type>")
        out.setdefault(path.parent.parent.name, {})[full_name] = _METADATA_TYPES[md_type]
    return out


@dataclass
class OrgSchema:
    """Fields per sObject, standard plus custom; lookups are case-insensitive as in SOQL."""

    fields: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, metadata_dir: Path | None = None) -> OrgSchema:
        merged = {name: dict(fields) for name, fields in STANDARD_FIELDS.items()}
        custom = load_custom_fields(metadata_dir or default_metadata_dir())
        for sobject, fields in custom.items():
            merged.setdefault(sobject, {}).update(fields)
        return cls(merged)

    def sobject(self, name: str) -> str | None:
        """The canonical spelling of an sObject name, or None when the org has no such type."""
        for known in self.fields:
            if known.lower() == name.lower():
                return known
        return None

    def field(self, sobject: str, name: str) -> str | None:
        """The canonical spelling of a field on `sobject`, or None."""
        for known in self.fields[sobject]:
            if known.lower() == name.lower():
                return known
        return None

    def type_of(self, sobject: str, field_name: str) -> str:
        return self.fields[sobject][field_name]
