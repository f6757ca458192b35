"""The Salesforce metadata in sf/: structure, agreement with the code, Salesforce's own conversion.

Structure is checked against the Metadata API's type definitions (`@salesforce/types`) and the
conversion runs Salesforce's source-deploy-retrieve, both from sf/node_modules, which
`make sf-tooling` installs (`make test` runs it first). Without it these tests fail, never skip.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from salesops_dagster.devorg.schema import OrgSchema
from salesops_dagster.salesforce.fields import LEAD_CUSTOM_FIELDS
from tests.sf_metadata import checks
from tests.sf_metadata.schema import MetadataSchema

REPO = Path(__file__).resolve().parents[1]
SF = REPO / "sf"
SOURCE = SF / checks.SOURCE
NODE_MODULES = SF / "node_modules"
NS = {"md": "http://soap.sforce.com/2006/04/metadata"}
DASHBOARD = SOURCE / "dashboards" / "SalesOpsKPIs" / "Sales_Operations_KPIs.dashboard-meta.xml"


def _installed(package: str) -> Path:
    """A package from sf/package.json in sf/node_modules, at exactly the pinned version."""
    pinned = json.loads((SF / "package.json").read_text())["devDependencies"][package]
    manifest = NODE_MODULES / package / "package.json"
    if not manifest.is_file():
        pytest.fail(
            f"{package} is not installed in sf/node_modules: run `make sf-tooling` "
            "(npm ci in sf/) before these tests; `make test` does it for you."
        )
    version = json.loads(manifest.read_text())["version"]
    if version != pinned:
        pytest.fail(
            f"sf/node_modules has {package} {version}, sf/package.json pins {pinned}: "
            "run `make sf-tooling`."
        )
    return NODE_MODULES / package


@pytest.fixture(scope="session")
def schema() -> MetadataSchema:
    return MetadataSchema(_installed("@salesforce/types") / "lib" / "metadata.d.ts")


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("node is not on PATH; the metadata tooling needs Node.js 20 or later")
    return path


@pytest.fixture(scope="session")
def sdr(node: str) -> str:
    """Node, with Salesforce's source-deploy-retrieve installed for sf/scripts/convert.mjs."""
    _installed("@salesforce/source-deploy-retrieve")
    _installed("fast-xml-parser")
    return node


@pytest.fixture
def sf_copy(tmp_path: Path) -> Path:
    """A writable copy of sf/ (without node_modules) to break on purpose."""
    copy = tmp_path / "sf"
    shutil.copytree(SF, copy, ignore=shutil.ignore_patterns("node_modules", ".sfdx", "mdapi_out"))
    return copy


def metadata_files() -> list[Path]:
    return sorted(SOURCE.rglob("*-meta.xml"))


# --- structure -----------------------------------------------------------------------------------


def test_every_metadata_file_parses_and_is_namespaced() -> None:
    files = metadata_files()
    assert len(files) == 13, [str(p.relative_to(SF)) for p in files]
    for path in files:
        root = checks.parse_xml(path)
        assert root.tag.startswith("{http://soap.sforce.com/2006/04/metadata}"), path


def test_descriptions_fit_salesforce_limits() -> None:
    for path in metadata_files():
        root = checks.parse_xml(path)
        description = root.findtext("md:description", namespaces=NS)
        limit = 1000 if path.name.endswith(".field-meta.xml") else 255
        if root.tag.endswith(("Folder", "}CustomObject")):
            assert description is None, path
        else:
            assert description and description.strip() and len(description) <= limit, path


@pytest.mark.parametrize("path", metadata_files(), ids=lambda p: p.name)
def test_file_matches_the_metadata_api_type_definitions(schema: MetadataSchema, path: Path) -> None:
    assert schema.validate_file(path) == []


def test_type_definitions_catch_the_mistakes_that_fail_a_deploy(
    schema: MetadataSchema, tmp_path: Path
) -> None:
    report = (SOURCE / "reports" / "SalesOpsKPIs" / "Lead_TTFR.report-meta.xml").read_text()
    broken = {
        "unknown element": report.replace("<format>", "<formatt>").replace(
            "</format>", "</formatt>"
        ),
        "bad enum": report.replace("<aggregateTypes>Median", "<aggregateTypes>Mean"),
        "missing required": report.replace("<reportType>LeadList</reportType>", ""),
        "out of order": report.replace("<name>Lead TTFR</name>", "").replace(
            "<columns>", "<name>Lead TTFR</name><columns>", 1
        ),
        "bad boolean": report.replace("<showDetails>true", "<showDetails>yes"),
    }
    for case, text in broken.items():
        path = tmp_path / f"{case.replace(' ', '_')}.report-meta.xml"
        path.write_text(text)
        assert schema.validate_file(path), f"{case} was not caught"


def test_median_is_a_report_summary_salesforce_supports(schema: MetadataSchema) -> None:
    assert {"Average", "Median"} <= schema.enums["ReportSummaryType"]


def test_lead_history_tracking_is_enabled_for_the_tracked_fields() -> None:
    lead = checks.parse_xml(SOURCE / "objects" / "Lead" / "Lead.object-meta.xml")
    assert lead.findtext("md:enableHistory", namespaces=NS) == "true"
    assert [child.tag.split("}")[1] for child in lead] == ["enableHistory"]


def test_project_points_at_the_metadata() -> None:
    project = json.loads((SF / "sfdx-project.json").read_text())
    assert [d["path"] for d in project["packageDirectories"]] == ["force-app"]
    assert project["sourceApiVersion"] == "62.0"


# --- one source of truth: salesops_dagster/salesforce/fields.py ----------------------------------


def test_lead_fields_agree_with_the_code_both_ways() -> None:
    assert checks.lead_field_problems(SF) == []
    assert set(checks.lead_field_files(SF)) == {f.api_name for f in LEAD_CUSTOM_FIELDS}


def test_removing_a_field_file_fails_the_consistency_check(sf_copy: Path) -> None:
    removed = checks.lead_field_files(sf_copy)["First_Response_Source__c"]
    removed.unlink()
    problems = checks.lead_field_problems(sf_copy)
    assert len(problems) == 1
    assert "First_Response_Source__c" in problems[0] and "missing" in problems[0]
    # The dev org loads its Lead fields from the same files, so end-to-end writes fail too.
    devorg = OrgSchema.load(sf_copy / checks.SOURCE)
    assert devorg.field("Lead", "First_Response_Source__c") is None
    assert devorg.field("Lead", "First_Response_At__c") == "First_Response_At__c"


def test_removing_a_field_file_fails_the_end_to_end_write(sf_copy: Path, devorg_factory) -> None:
    """The same write lands in a dev org built from sf/ and fails in one built from a copy that
    lost the field: the org rejects the whole Collections call with INVALID_FIELD."""
    from simple_salesforce.exceptions import SalesforceMalformedRequest

    from salesops_dagster.salesforce.client import SalesforceClient
    from salesops_dagster.salesforce.config import SalesforceConfig
    from tests.conftest import SEED, lead_records

    write = {"First_Response_Source__c": "Task", "Time_to_First_Response__c": 12.5}
    lead = lead_records(1)
    complete = devorg_factory(records={**SEED, "Lead": lead})
    client = SalesforceClient(SalesforceConfig.from_env(complete.env()))
    [result] = client.update_records("Lead", [{"Id": lead[0]["Id"], **write}])
    assert result.success
    assert complete.record("Lead", lead[0]["Id"])["First_Response_Source__c"] == "Task"

    checks.lead_field_files(sf_copy)["First_Response_Source__c"].unlink()
    broken = devorg_factory(records={**SEED, "Lead": lead}, metadata_dir=sf_copy / checks.SOURCE)
    client = SalesforceClient(SalesforceConfig.from_env(broken.env()))
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_FIELD"):
        client.update_records("Lead", [{"Id": lead[0]["Id"], **write}])
    assert broken.record("Lead", lead[0]["Id"]).get("Time_to_First_Response__c") is None


def test_an_extra_or_changed_field_fails_the_consistency_check(sf_copy: Path) -> None:
    fields_dir = sf_copy / checks.SOURCE / "objects" / "Lead" / "fields"
    extra = (fields_dir / "First_Response_User__c.field-meta.xml").read_text()
    (fields_dir / "Stray__c.field-meta.xml").write_text(
        extra.replace("First_Response_User__c", "Stray__c")
    )
    picklist = fields_dir / "First_Response_Source__c.field-meta.xml"
    picklist.write_text(picklist.read_text().replace("<restricted>true", "<restricted>false"))
    number = fields_dir / "Time_to_First_Response__c.field-meta.xml"
    number.write_text(number.read_text().replace("<scale>2</scale>", "<scale>3</scale>"))
    problems = "\n".join(checks.lead_field_problems(sf_copy))
    assert "Stray__c is not in salesforce/fields.py" in problems
    assert "picklist must be restricted" in problems
    assert "<scale> is '3'" in problems


def test_field_definitions_are_legal() -> None:
    for name, path in checks.lead_field_files(SF).items():
        root = checks.parse_xml(path)
        kind = root.findtext("md:type", namespaces=NS)
        assert kind in {"DateTime", "Text", "Picklist", "Number"}, path
        assert root.findtext("md:trackHistory", namespaces=NS) == "true", path
        assert (root.findtext("md:description", namespaces=NS) or "").strip(), path
        has = {child.tag.split("}")[1] for child in root}
        assert ("length" in has) == (kind == "Text"), path
        assert ({"precision", "scale"} <= has) == (kind == "Number"), path
        assert ("valueSet" in has) == (kind == "Picklist"), path
        assert name == root.findtext("md:fullName", namespaces=NS)


# --- reports, dashboard, permission set ----------------------------------------------------------


def test_reports_refer_to_fields_that_exist() -> None:
    assert checks.report_problems(SF) == []
    assert set(checks.report_files(SF)) == {
        "SalesOpsKPIs/Lead_TTFR",
        "SalesOpsKPIs/Lead_TTFR_Trend",
    }


def test_report_check_catches_an_unknown_or_misspelt_column(sf_copy: Path) -> None:
    report = sf_copy / checks.SOURCE / "reports" / "SalesOpsKPIs" / "Lead_TTFR.report-meta.xml"
    text = report.read_text()
    report.write_text(
        text.replace("<field>Lead.First_Response_User__c", "<field>First_Response_User__c").replace(
            "<column>Lead.First_Response_At__c", "<column>Lead.First_Responded_At__c"
        )
    )
    problems = "\n".join(checks.report_problems(sf_copy))
    assert "'First_Response_User__c' is neither" in problems
    assert "'Lead.First_Responded_At__c' is neither" in problems


def test_ttfr_report_summarises_by_source_for_responded_leads() -> None:
    root = checks.parse_xml(SOURCE / "reports" / "SalesOpsKPIs" / "Lead_TTFR.report-meta.xml")
    ttfr = [
        c
        for c in root.findall("md:columns", NS)
        if c.findtext("md:field", namespaces=NS) == "Lead.Time_to_First_Response__c"
    ]
    assert [a.text for a in ttfr[0].findall("md:aggregateTypes", NS)] == ["Average", "Median"]
    assert root.findtext("md:format", namespaces=NS) == "Summary"
    assert root.findtext("md:groupingsDown/md:field", namespaces=NS) == (
        "Lead.First_Response_Source__c"
    )
    (item,) = root.findall("md:filter/md:criteriaItems", NS)
    assert item.findtext("md:column", namespaces=NS) == "Lead.First_Response_At__c"
    assert item.findtext("md:operator", namespaces=NS) == "notEqual"
    assert not item.findtext("md:value", namespaces=NS)


def test_trend_report_is_daily_over_the_last_30_days() -> None:
    root = checks.parse_xml(SOURCE / "reports" / "SalesOpsKPIs" / "Lead_TTFR_Trend.report-meta.xml")
    assert root.findtext("md:groupingsDown/md:field", namespaces=NS) == "Lead.First_Response_At__c"
    assert root.findtext("md:groupingsDown/md:dateGranularity", namespaces=NS) == "Day"
    assert root.findtext("md:timeFrameFilter/md:dateColumn", namespaces=NS) == (
        "Lead.First_Response_At__c"
    )
    assert root.findtext("md:timeFrameFilter/md:interval", namespaces=NS) == "INTERVAL_LAST30"


def test_dashboard_components_use_reports_and_summaries_in_sf() -> None:
    assert checks.dashboard_problems(SF) == []


def test_dashboard_check_catches_a_missing_report_or_summary(sf_copy: Path) -> None:
    (
        sf_copy / checks.SOURCE / "reports" / "SalesOpsKPIs" / "Lead_TTFR_Trend.report-meta.xml"
    ).unlink()
    dashboard = sf_copy / DASHBOARD.relative_to(SF)
    dashboard.write_text(dashboard.read_text().replace("<aggregate>Median", "<aggregate>Maximum"))
    problems = "\n".join(checks.dashboard_problems(sf_copy))
    assert "uses report 'SalesOpsKPIs/Lead_TTFR_Trend', not in sf/" in problems
    assert "shows Maximum of Lead.Time_to_First_Response__c" in problems


def test_dashboard_has_the_five_kpi_components() -> None:
    root = checks.parse_xml(DASHBOARD)
    cells = root.findall("md:dashboardGridLayout/md:dashboardGridComponents", NS)
    components = {}
    for cell in cells:
        component = cell.find("md:dashboardComponent", NS)
        summary = component.find("md:chartSummary", NS)
        key = (
            component.findtext("md:componentType", namespaces=NS),
            summary.findtext("md:aggregate", namespaces=NS),
            summary.findtext("md:column", namespaces=NS),
            component.findtext("md:report", namespaces=NS),
        )
        breakpoints = (
            component.findtext("md:indicatorBreakpoint1", namespaces=NS),
            component.findtext("md:indicatorBreakpoint2", namespaces=NS),
        )
        components[key] = breakpoints
    ttfr, main, trend = (
        "Lead.Time_to_First_Response__c",
        "SalesOpsKPIs/Lead_TTFR",
        "SalesOpsKPIs/Lead_TTFR_Trend",
    )
    assert components == {
        ("Metric", "Average", ttfr, main): ("60.0", "240.0"),
        ("Metric", "Median", ttfr, main): ("45.0", "180.0"),
        ("Metric", None, "RowCount", main): (None, None),
        ("Line", "Average", ttfr, trend): (None, None),
        ("Donut", None, "RowCount", main): (None, None),
    }
    # The twelve-column grid is filled without overlaps.
    columns = int(root.findtext("md:dashboardGridLayout/md:numberOfColumns", namespaces=NS))
    taken: set[tuple[int, int]] = set()
    for cell in cells:
        row, col, rows, cols = (
            int(cell.findtext(f"md:{name}", namespaces=NS))
            for name in ("rowIndex", "columnIndex", "rowSpan", "colSpan")
        )
        assert col + cols <= columns
        area = {(r, c) for r in range(row, row + rows) for c in range(col, col + cols)}
        assert not area & taken
        taken |= area
    assert root.findtext("md:dashboardType", namespaces=NS) == "LoggedInUser"


def test_permission_set_edits_exactly_the_pipeline_fields() -> None:
    assert checks.permission_set_problems(SF) == []


def test_permission_set_check_catches_extra_edit_or_missing_field(sf_copy: Path) -> None:
    path = (
        sf_copy / checks.SOURCE / "permissionsets" / "SalesOps_Integration.permissionset-meta.xml"
    )
    text = path.read_text()
    text = text.replace(
        "<editable>false</editable>\n        <field>Lead.Email</field>",
        "<editable>true</editable>\n        <field>Lead.Email</field>",
    )
    text = text.replace(
        "<field>Lead.Owner_Assigned_At__c</field>", "<field>Lead.CreatedDate</field>"
    )
    path.write_text(text)
    problems = "\n".join(checks.permission_set_problems(sf_copy))
    assert "editable fields" in problems
    assert "Lead.CreatedDate has no field-level security" in problems
    assert "no read access to ['Lead.Owner_Assigned_At__c']" in problems


# --- Salesforce's own conversion (source-deploy-retrieve) ----------------------------------------


def _convert(node: str, sf_dir: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node, str(sf_dir / "scripts" / "convert.mjs"), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sdr_converts_the_source_to_metadata_format(sdr: str, tmp_path: Path) -> None:
    out = tmp_path / "mdapi"
    result = _convert(sdr, SF, out)
    assert result.returncode == 0, result.stderr
    fields = [f"CustomField Lead.{f.api_name}" for f in LEAD_CUSTOM_FIELDS]
    expected = sorted(
        [
            *fields,
            "CustomObject Lead",
            "Dashboard SalesOpsKPIs/Sales_Operations_KPIs",
            "DashboardFolder SalesOpsKPIs",
            "PermissionSet SalesOps_Integration",
            "Report SalesOpsKPIs/Lead_TTFR",
            "Report SalesOpsKPIs/Lead_TTFR_Trend",
            "ReportFolder SalesOpsKPIs",
        ]
    )
    lines = result.stdout.splitlines()
    assert lines[:-1] == expected
    assert lines[-1].startswith("package.xml: ")

    package = checks.parse_xml(out / "package.xml")
    members = {
        t.findtext("md:name", namespaces=NS): sorted(m.text for m in t.findall("md:members", NS))
        for t in package.findall("md:types", NS)
    }
    assert members == {
        "CustomField": sorted(f"Lead.{f.api_name}" for f in LEAD_CUSTOM_FIELDS),
        "CustomObject": ["Lead"],
        "Dashboard": ["SalesOpsKPIs/", "SalesOpsKPIs/Sales_Operations_KPIs"],
        "PermissionSet": ["SalesOps_Integration"],
        "Report": ["SalesOpsKPIs/", "SalesOpsKPIs/Lead_TTFR", "SalesOpsKPIs/Lead_TTFR_Trend"],
    }
    assert package.findtext("md:version", namespaces=NS) == "62.0"

    # The decomposed Lead fields are recomposed into one Lead.object with history on.
    lead = checks.parse_xml(out / "objects" / "Lead.object")
    assert lead.findtext("md:enableHistory", namespaces=NS) == "true"
    recomposed = {
        f.findtext("md:fullName", namespaces=NS): f.findtext("md:trackHistory", namespaces=NS)
        for f in lead.findall("md:fields", NS)
    }
    assert recomposed == {f.api_name: "true" for f in LEAD_CUSTOM_FIELDS}
    for name in (
        "reports/SalesOpsKPIs-meta.xml",
        "reports/SalesOpsKPIs/Lead_TTFR.report",
        "reports/SalesOpsKPIs/Lead_TTFR_Trend.report",
        "dashboards/SalesOpsKPIs-meta.xml",
        "dashboards/SalesOpsKPIs/Sales_Operations_KPIs.dashboard",
        "permissionsets/SalesOps_Integration.permissionset",
    ):
        assert (out / name).is_file(), name


def test_sdr_conversion_fails_on_broken_metadata(sdr: str, sf_copy: Path, tmp_path: Path) -> None:
    (sf_copy / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    report = sf_copy / checks.SOURCE / "reports" / "SalesOpsKPIs" / "Lead_TTFR.report-meta.xml"
    report.write_text(report.read_text().replace("</Report>", ""))
    result = _convert(sdr, sf_copy, tmp_path / "out")
    assert result.returncode != 0
    assert "Lead_TTFR.report-meta.xml" in result.stderr and "Unclosed tag" in result.stderr


def test_sdr_conversion_fails_on_a_file_no_component_claims(
    sdr: str, sf_copy: Path, tmp_path: Path
) -> None:
    (sf_copy / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    stray = sf_copy / checks.SOURCE / "objects" / "Lead" / "fields" / "Notes.txt"
    stray.write_text("not metadata")
    result = _convert(sdr, sf_copy, tmp_path / "out")
    assert result.returncode != 0
    assert "Notes.txt resolves to no metadata component" in result.stderr


# --- scripts/deploy_metadata.sh, against a stand-in `sf` ----------------------------------------

FAKE_SF = """#!/usr/bin/env bash
# Stand-in for the sf CLI: logs each call and prints the canned --json answer for it.
echo "$*" >> "$FAKE_SF_DIR/calls.log"
case "$1 $2 $3" in
  "org display "*) cat "$FAKE_SF_DIR/org-display.json" ;;
  "data query "*) cat "$FAKE_SF_DIR/data-query.json" ;;
  "project deploy validate") cat "$FAKE_SF_DIR/deploy-validate.json" ;;
esac
"""


def _fake_sf_answers(is_sandbox: bool) -> dict[str, dict]:
    """The shapes the real CLI prints for the calls deploy_metadata.sh parses."""
    return {
        "org-display.json": {
            "status": 0,
            "result": {
                "username": "integration@example.com",
                "instanceUrl": "https://example.my.salesforce.com",
            },
        },
        "data-query.json": {
            "status": 0,
            "result": {
                "done": True,
                "totalSize": 1,
                "records": [
                    {
                        "attributes": {"type": "Organization"},
                        "IsSandbox": is_sandbox,
                        "TrialExpirationDate": None,
                        "OrganizationType": "Enterprise Edition",
                    }
                ],
            },
        },
        "deploy-validate.json": {
            "status": 0,
            "result": {"id": "0Af000000000001", "status": "Succeeded", "success": True},
        },
    }


def _run_deploy(tmp_path: Path, *args: str, is_sandbox: bool) -> tuple[int, str, list[str]]:
    fake_dir = tmp_path / "fake_sf"
    fake_dir.mkdir(exist_ok=True)
    fake = fake_dir / "sf"
    fake.write_text(FAKE_SF)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    for name, answer in _fake_sf_answers(is_sandbox).items():
        (fake_dir / name).write_text(json.dumps(answer))
    (fake_dir / "calls.log").write_text("")
    env = {
        **os.environ,
        "PATH": f"{fake_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_SF_DIR": str(fake_dir),
    }
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "deploy_metadata.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    calls = (fake_dir / "calls.log").read_text().splitlines()
    return result.returncode, result.stdout + result.stderr, calls


def test_deploy_script_validates_then_deploys_to_a_sandbox(node: str, tmp_path: Path) -> None:
    code, output, calls = _run_deploy(tmp_path, "my-sandbox", is_sandbox=True)
    assert code == 0, output
    deploys = [c for c in calls if c.startswith("project deploy")]
    assert len(deploys) == 2
    assert "--dry-run" in deploys[0] and "--test-level NoTestRun" in deploys[0]
    assert "--dry-run" not in deploys[1] and "--target-org my-sandbox" in deploys[1]


def test_deploy_script_refuses_production_without_confirmation(node: str, tmp_path: Path) -> None:
    code, output, calls = _run_deploy(tmp_path, "prod", is_sandbox=False)
    assert code == 1
    assert "is a production org" in output and "--confirm-production" in output
    assert not [c for c in calls if c.startswith("project deploy")]


def test_deploy_script_validates_production_with_tests_then_quick_deploys(
    node: str, tmp_path: Path
) -> None:
    code, output, calls = _run_deploy(tmp_path, "--confirm-production", "prod", is_sandbox=False)
    assert code == 0, output
    deploys = [c for c in calls if c.startswith("project deploy")]
    assert deploys[0].startswith("project deploy validate")
    assert "--test-level RunLocalTests" in deploys[0]
    assert deploys[1].startswith("project deploy quick --job-id 0Af000000000001")


def test_deploy_script_explains_usage_errors(tmp_path: Path) -> None:
    code, output, _ = _run_deploy(tmp_path, is_sandbox=True)
    assert code == 1 and "Usage:" in output and "TARGET_ORG is required" in output
