"""Consistency checks between `sf/` and the code, each a function over an `sf/` directory.

Every function returns a list of problems (empty when all is well), each naming the file and what
is wrong, so a test can assert on the real tree and on a deliberately broken copy alike.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from salesops_dagster.ingest.objects import OBJECTS_BY_NAME
from salesops_dagster.salesforce.fields import LEAD_CUSTOM_FIELDS, LeadField

NS = {"md": "http://soap.sforce.com/2006/04/metadata"}
SOURCE = Path("force-app/main/default")
REPORT_FOLDER = "SalesOpsKPIs"
PERMISSION_SET = "SalesOps_Integration"

# LeadList report columns for standard Lead fields (report names, not API names), as the
# Analytics API describes the report type; custom fields appear as Lead.<ApiName>.
LEAD_REPORT_STANDARD_COLUMNS = frozenset(
    {"FIRST_NAME", "LAST_NAME", "COMPANY", "TITLE", "EMAIL", "PHONE", "STATUS", "LEAD_SOURCE"}
    | {"OWNER", "CREATED_DATE", "CONVERTED", "INDUSTRY", "RATING", "CITY", "STATE", "COUNTRY"}
)
# Fields without field-level security: required or system fields Salesforce always shows.
# A fieldPermissions entry for one of them fails the deployment.
NOT_PERMISSIONABLE = frozenset(
    {"Id", "IsDeleted", "SystemModstamp", "CreatedDate", "CreatedById", "LastModifiedDate"}
    | {"LastModifiedById", "OwnerId", "Name", "FirstName", "LastName", "Company", "Status"}
    | {"IsConverted", "ConvertedDate", "Subject", "Priority"}
)
# Compound fields whose field-level security covers their components.
COMPOUND_FIELDS = {"Lead.Address": ("Street", "City", "State", "PostalCode", "Country")}
API_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*__c$")


def parse_xml(path: Path) -> ET.Element:
    """The root element of one of the repository's own metadata files (trusted input)."""
    return ET.parse(path).getroot()  # noqa: S314


def _text(element: ET.Element, name: str) -> str | None:
    value = element.findtext(f"md:{name}", namespaces=NS)
    return value.strip() if value is not None else None


def _all(element: ET.Element, path: str) -> list[ET.Element]:
    return element.findall("/".join(f"md:{part}" for part in path.split("/")), NS)


def lead_field_files(sf_dir: Path) -> dict[str, Path]:
    """Lead custom field API name -> its `.field-meta.xml` file."""
    fields_dir = sf_dir / SOURCE / "objects" / "Lead" / "fields"
    return {
        path.name.removesuffix(".field-meta.xml"): path
        for path in sorted(fields_dir.glob("*.field-meta.xml"))
    }


def lead_field_problems(
    sf_dir: Path, fields: tuple[LeadField, ...] = LEAD_CUSTOM_FIELDS
) -> list[str]:
    """`sf/` defines exactly the Lead custom fields of `fields`, with the same definition."""
    problems: list[str] = []
    files = lead_field_files(sf_dir)
    expected = {field.api_name: field for field in fields}
    for name in sorted(expected.keys() - files.keys()):
        problems.append(
            f"{name}: the pipeline writes it (salesops_dagster/salesforce/fields.py) but "
            f"{SOURCE}/objects/Lead/fields/{name}.field-meta.xml is missing"
        )
    for name in sorted(files.keys() - expected.keys()):
        problems.append(f"{files[name]}: Lead field {name} is not in salesforce/fields.py")
    for name in sorted(expected.keys() & files.keys()):
        problems.extend(_field_problems(files[name], expected[name]))
    return problems


def _field_problems(path: Path, field: LeadField) -> list[str]:
    root = parse_xml(path)
    out: list[str] = []

    def expect(element: str, wanted: object) -> None:
        actual = _text(root, element)
        if actual != (None if wanted is None else str(wanted)):
            out.append(f"{path}: <{element}> is {actual!r}, fields.py says {wanted!r}")

    expect("fullName", field.api_name)
    expect("label", field.label)
    expect("type", field.type)
    expect("description", field.description)
    expect("length", field.length)
    expect("precision", field.precision)
    expect("scale", field.scale)
    expect("trackHistory", "true")
    if not API_NAME.match(field.api_name) or len(field.api_name) > 43:
        out.append(f"{path}: {field.api_name} is not a legal custom field API name")
    if len(field.label) > 40:
        out.append(f"{path}: label longer than 40 characters")
    if not field.description or len(field.description) > 1000:
        out.append(f"{path}: description must be 1 to 1000 characters")
    if field.type == "Text" and not (field.length and 1 <= field.length <= 255):
        out.append(f"{path}: a Text field needs a length from 1 to 255")
    if field.type == "Number" and not (
        field.precision is not None
        and field.scale is not None
        and 1 <= field.precision <= 18
        and 0 <= field.scale <= field.precision
    ):
        out.append(f"{path}: a Number field needs 1 <= precision <= 18 and 0 <= scale <= precision")
    values = [_text(value, "fullName") for value in _all(root, "valueSet/valueSetDefinition/value")]
    labels = [_text(value, "label") for value in _all(root, "valueSet/valueSetDefinition/value")]
    if field.type == "Picklist":
        if _text(root, "valueSet/md:restricted") != "true":
            out.append(f"{path}: the picklist must be restricted")
        if values != list(field.picklist_values) or labels != values:
            out.append(f"{path}: picklist values {values}, fields.py says {field.picklist_values}")
    elif values or root.find("md:valueSet", NS) is not None:
        out.append(f"{path}: only a Picklist has a valueSet")
    return out


def report_files(sf_dir: Path) -> dict[str, Path]:
    """Report full name (`Folder/DeveloperName`) -> file."""
    reports = sf_dir / SOURCE / "reports"
    return {
        f"{path.parent.name}/{path.name.removesuffix('.report-meta.xml')}": path
        for path in sorted(reports.glob("*/*.report-meta.xml"))
    }


def report_problems(sf_dir: Path) -> list[str]:
    """Report columns, groupings, filters and date filters refer to Lead fields that exist."""
    custom = {
        name: _text(parse_xml(path), "type") for name, path in lead_field_files(sf_dir).items()
    }
    folders = sf_dir / SOURCE / "reports"
    out: list[str] = []

    def field_type(reference: str, where: str) -> str | None:
        if reference in LEAD_REPORT_STANDARD_COLUMNS:
            return "Standard"
        object_name, _, api_name = reference.partition(".")
        if object_name == "Lead" and api_name in custom:
            return custom[api_name]
        out.append(
            f"{where}: {reference!r} is neither a LeadList standard column nor Lead.<custom field> "
            "defined in sf/"
        )
        return None

    for full_name, path in report_files(sf_dir).items():
        root = parse_xml(path)
        folder = full_name.split("/")[0]
        if not (folders / f"{folder}.reportFolder-meta.xml").is_file():
            out.append(f"{path}: report folder {folder} has no {folder}.reportFolder-meta.xml")
        if _text(root, "reportType") != "LeadList":
            out.append(f"{path}: expected reportType LeadList")
        if _text(root, "scope") != "org":
            out.append(f"{path}: a LeadList report over all leads has scope 'org'")
        if len(_text(root, "name") or "") > 40 or len(_text(root, "description") or "") > 255:
            out.append(f"{path}: name over 40 or description over 255 characters")
        groupings = [_text(g, "field") for g in _all(root, "groupingsDown")]
        for column in _all(root, "columns"):
            name = _text(column, "field") or ""
            kind = field_type(name, f"{path} column")
            if name in groupings:
                out.append(f"{path}: {name} is both a grouping and a column (deploy fails)")
            if _all(column, "aggregateTypes") and kind != "Number":
                out.append(f"{path}: summaries on {name}, which is not a Number field")
        for grouping in _all(root, "groupingsDown"):
            kind = field_type(_text(grouping, "field") or "", f"{path} grouping")
            if (_text(grouping, "dateGranularity") is not None) != (kind == "DateTime"):
                out.append(f"{path}: dateGranularity belongs on (and only on) date groupings")
        for item in _all(root, "filter/criteriaItems"):
            field_type(_text(item, "column") or "", f"{path} filter")
        frame = root.find("md:timeFrameFilter", NS)
        if frame is not None:
            date_column = _text(frame, "dateColumn") or ""
            if date_column != "CREATED_DATE" and field_type(date_column, f"{path}") != "DateTime":
                out.append(f"{path}: timeFrameFilter on {date_column}, which is not a date")
    return out


def dashboard_problems(sf_dir: Path) -> list[str]:
    """Dashboard components refer to reports in sf/ and to those reports' summaries/groupings."""
    reports = {name: parse_xml(path) for name, path in report_files(sf_dir).items()}
    out: list[str] = []
    dashboards = sf_dir / SOURCE / "dashboards"
    for path in sorted(dashboards.glob("*/*.dashboard-meta.xml")):
        root = parse_xml(path)
        folder = path.parent.name
        if not (dashboards / f"{folder}.dashboardFolder-meta.xml").is_file():
            out.append(
                f"{path}: dashboard folder {folder} has no {folder}.dashboardFolder-meta.xml"
            )
        dashboard_type = _text(root, "dashboardType")
        if (dashboard_type == "SpecifiedUser") != (_text(root, "runningUser") is not None):
            out.append(
                f"{path}: a runningUser goes with (and only with) dashboardType SpecifiedUser"
            )
        for component in _all(
            root, "dashboardGridLayout/dashboardGridComponents/dashboardComponent"
        ):
            title = _text(component, "title")
            report_name = _text(component, "report") or ""
            report = reports.get(report_name)
            if report is None:
                out.append(f"{path}: component {title!r} uses report {report_name!r}, not in sf/")
                continue
            summaries = {
                (_text(column, "field"), (aggregate.text or "").strip())
                for column in _all(report, "columns")
                for aggregate in _all(column, "aggregateTypes")
            }
            for summary in _all(component, "chartSummary"):
                column, aggregate = _text(summary, "column"), _text(summary, "aggregate")
                if column == "RowCount" and aggregate is None:
                    continue
                if (column, aggregate) not in summaries:
                    out.append(
                        f"{path}: component {title!r} shows {aggregate} of {column}, which report "
                        f"{report_name} does not summarise"
                    )
            groupings = {_text(g, "field") for g in _all(report, "groupingsDown")}
            for grouping in _all(component, "groupingColumn"):
                if (grouping.text or "").strip() not in groupings:
                    out.append(
                        f"{path}: component {title!r} groups by {grouping.text}, which report "
                        f"{report_name} is not grouped by"
                    )
    return out


def permission_set_problems(sf_dir: Path) -> list[str]:
    """Edit on exactly the pipeline's Lead fields; read only on what ingest queries."""
    path = sf_dir / SOURCE / "permissionsets" / f"{PERMISSION_SET}.permissionset-meta.xml"
    root = parse_xml(path)
    out: list[str] = []
    written = {f"Lead.{field.api_name}" for field in LEAD_CUSTOM_FIELDS}
    editable = set()
    for permission in _all(root, "fieldPermissions"):
        field = _text(permission, "field") or ""
        object_name, _, name = field.partition(".")
        if _text(permission, "editable") == "true":
            editable.add(field)
        if _text(permission, "readable") != "true":
            out.append(f"{path}: {field} is listed but not readable")
        spec = OBJECTS_BY_NAME.get(object_name)
        covered = COMPOUND_FIELDS.get(field, (name,))
        if spec is None or not any(part in spec.fields for part in covered):
            out.append(f"{path}: {field} is not a field ingest queries (ingest/objects.py)")
        if name in NOT_PERMISSIONABLE:
            out.append(f"{path}: {field} has no field-level security; listing it fails the deploy")
    if editable != written:
        out.append(f"{path}: editable fields {sorted(editable)} must be exactly {sorted(written)}")
    missing = {f"Lead.{field.api_name}" for field in LEAD_CUSTOM_FIELDS} - {
        _text(p, "field") for p in _all(root, "fieldPermissions")
    }
    if missing:
        out.append(f"{path}: no read access to {sorted(missing)}")
    for permission in _all(root, "objectPermissions"):
        name = _text(permission, "object")
        granted = {
            flag
            for flag in ("allowCreate", "allowDelete", "modifyAllRecords")
            if _text(permission, flag) == "true"
        }
        if name != "Lead" or granted:
            out.append(f"{path}: object permission on {name} grants more than read/edit: {granted}")
    users = {
        _text(p, "name") for p in _all(root, "userPermissions") if _text(p, "enabled") == "true"
    }
    if users != {"ApiEnabled", "TransferAnyLead"}:
        out.append(
            f"{path}: user permissions {sorted(users)}, expected ApiEnabled, TransferAnyLead"
        )
    return out
