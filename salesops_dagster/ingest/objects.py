"""The Salesforce objects this project pulls, with the fields read from each.

Field types use one small vocabulary (`id`, `reference`, `string`, `boolean`, `int`, `double`,
`datetime`, `date`) that the warehouse maps to DuckDB column types. Ingest asks the org for exactly
these fields; an org that lacks one fails with a message naming the object and the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from salesops_dagster.salesforce.fields import LEAD_CUSTOM_FIELDS

_LEAD_CUSTOM_TYPES = {
    "DateTime": "datetime",
    "Text": "string",
    "Picklist": "string",
    "Number": "double",
}


@dataclass(frozen=True)
class ObjectSpec:
    sobject: str  # Salesforce API name
    table: str  # table in the warehouse schema `salesforce`
    fields: dict[str, str]  # field API name -> type, in SELECT order; Id and SystemModstamp first
    has_is_deleted: bool = True  # User and Group have no IsDeleted: they are never deleted

    @property
    def field_names(self) -> list[str]:
        return list(self.fields)


def _spec(
    sobject: str, table: str, fields: dict[str, str], has_is_deleted: bool = True
) -> ObjectSpec:
    base = {"Id": "id", "SystemModstamp": "datetime"}
    if has_is_deleted:
        base["IsDeleted"] = "boolean"
    return ObjectSpec(sobject, table, {**base, **fields}, has_is_deleted)


LEAD = _spec(
    "Lead",
    "lead",
    {
        "FirstName": "string",
        "LastName": "string",
        "Company": "string",
        "Title": "string",
        "Email": "string",
        "Phone": "string",
        "Status": "string",
        "LeadSource": "string",
        "Industry": "string",
        "Rating": "string",
        "NumberOfEmployees": "int",
        "AnnualRevenue": "double",
        "City": "string",
        "State": "string",
        "PostalCode": "string",
        "Country": "string",
        "OwnerId": "reference",
        "IsConverted": "boolean",
        "ConvertedDate": "date",
        "CreatedDate": "datetime",
        "CreatedById": "reference",
        "LastModifiedDate": "datetime",
        **{f.api_name: _LEAD_CUSTOM_TYPES[f.type] for f in LEAD_CUSTOM_FIELDS},
    },
)

TASK = _spec(
    "Task",
    "task",
    {
        "WhoId": "reference",
        "WhatId": "reference",
        "Subject": "string",
        "Status": "string",
        "Type": "string",
        "TaskSubtype": "string",
        "OwnerId": "reference",
        "ActivityDate": "date",
        "CompletedDateTime": "datetime",
        "CreatedDate": "datetime",
        "CreatedById": "reference",
        "LastModifiedDate": "datetime",
    },
)

EMAIL_MESSAGE = _spec(
    "EmailMessage",
    "email_message",
    {
        "ParentId": "reference",
        "ActivityId": "reference",
        "RelatedToId": "reference",
        "Subject": "string",
        "FromAddress": "string",
        "FromName": "string",
        "ToAddress": "string",
        "Incoming": "boolean",
        "Status": "string",
        "MessageDate": "datetime",
        "CreatedDate": "datetime",
        "CreatedById": "reference",
        "LastModifiedDate": "datetime",
    },
)

EMAIL_MESSAGE_RELATION = _spec(
    "EmailMessageRelation",
    "email_message_relation",
    {
        "EmailMessageId": "reference",
        "RelationId": "reference",
        "RelationType": "string",
        "RelationAddress": "string",
        "RelationObjectType": "string",
        "CreatedDate": "datetime",
    },
)

USER = _spec(
    "User",
    "user",
    {
        "Username": "string",
        "Name": "string",
        "Email": "string",
        "IsActive": "boolean",
        "UserType": "string",
        "TimeZoneSidKey": "string",
        "CreatedDate": "datetime",
        "LastModifiedDate": "datetime",
    },
    has_is_deleted=False,
)

GROUP = _spec(
    "Group",
    "group",
    {
        "Name": "string",
        "DeveloperName": "string",
        "Type": "string",
        "Email": "string",
        "CreatedDate": "datetime",
        "LastModifiedDate": "datetime",
    },
    has_is_deleted=False,
)

OBJECTS: tuple[ObjectSpec, ...] = (LEAD, TASK, EMAIL_MESSAGE, EMAIL_MESSAGE_RELATION, USER, GROUP)
OBJECTS_BY_NAME = {spec.sobject: spec for spec in OBJECTS}
