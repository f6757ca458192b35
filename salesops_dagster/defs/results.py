"""How every asset check reports a `Finding`: pass/fail, the count, a sample to look up."""

import dagster as dg

from salesops_dagster.findings import Finding


def check_result(
    finding: Finding,
    what: str,
    *,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    **metadata: object,
) -> dg.AssetCheckResult:
    """`what` names the offending rows in the failure description ("leads with a negative TTFR")."""
    shown = {"violations": finding.count, **metadata}
    if finding.sample:
        shown["sample"] = dg.MetadataValue.md(finding.markdown())
    return dg.AssetCheckResult(
        passed=finding.passed,
        severity=severity,
        description=None if finding.passed else f"{finding.count} {what}",
        metadata=shown,
    )
