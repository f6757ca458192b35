"""The Lead fields this project writes: the one place their API names, types and values live.

`sf/` ships them as metadata and a test proves the XML agrees with this module; the dev org loads
its Lead custom fields from `sf/`, so a field missing there fails every end-to-end write too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LeadField:
    api_name: str
    label: str
    type: str  # Salesforce metadata type: DateTime, Text, Picklist, Number
    description: str
    length: int | None = None  # Text
    precision: int | None = None  # Number
    scale: int | None = None  # Number
    picklist_values: tuple[str, ...] = ()  # restricted Picklist


FIRST_RESPONSE_AT = LeadField(
    "First_Response_At__c",
    "First Response At",
    "DateTime",
    "When the lead was first answered (earliest Task or outbound email). Written by "
    "salesops-dagster; never moves later.",
)
FIRST_RESPONSE_USER = LeadField(
    "First_Response_User__c",
    "First Response User",
    "Text",
    "Who first answered the lead: the Task owner's User Id or the email's From address. Written by "
    "salesops-dagster.",
    length=255,
)
FIRST_RESPONSE_SOURCE = LeadField(
    "First_Response_Source__c",
    "First Response Source",
    "Picklist",
    "Which record type carried the first response. Written by salesops-dagster.",
    picklist_values=("Task", "EmailMessage"),
)
TIME_TO_FIRST_RESPONSE = LeadField(
    "Time_to_First_Response__c",
    "Time to First Response (min)",
    "Number",
    "Minutes from lead creation to the first response, 2 decimals. Written by salesops-dagster.",
    precision=18,
    scale=2,
)
OWNER_ASSIGNED_AT = LeadField(
    "Owner_Assigned_At__c",
    "Owner Assigned At",
    "DateTime",
    "When salesops-dagster routing assigned the current owner.",
)
ASSIGNMENT_LATENCY_MINUTES = LeadField(
    "Assignment_Latency_Minutes__c",
    "Assignment Latency (min)",
    "Number",
    "Minutes from lead creation to routing assignment, 2 decimals. Written by salesops-dagster.",
    precision=18,
    scale=2,
)

FIRST_RESPONSE_FIELDS: tuple[LeadField, ...] = (
    FIRST_RESPONSE_AT,
    FIRST_RESPONSE_USER,
    FIRST_RESPONSE_SOURCE,
    TIME_TO_FIRST_RESPONSE,
)
ROUTING_FIELDS: tuple[LeadField, ...] = (OWNER_ASSIGNED_AT, ASSIGNMENT_LATENCY_MINUTES)

LEAD_CUSTOM_FIELDS: tuple[LeadField, ...] = FIRST_RESPONSE_FIELDS + ROUTING_FIELDS
