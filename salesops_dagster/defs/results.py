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


def markdown_table(
    header: list[str], rows: list[list[object]], *, numeric_last: bool = True
) -> str:
    """A Markdown table for asset metadata (the last column right-aligned when numeric)."""
    align = ["---"] * len(header)
    if numeric_last:
        align[-1] = "---:"
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
