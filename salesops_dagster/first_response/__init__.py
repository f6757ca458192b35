"""Time to first response (TTFR): compute, check and plan the write-back, without Dagster.

- `sql`: `salesops.lead_first_response` in DuckDB SQL (`refresh_first_response`, `recompute_all`).
- `calendar`: the policy's business hours as UTC intervals; business minutes.
- `sla`: SLA status, open breaches (`salesops.lead_sla_breach`), statistics for metadata.
- `checks`: what the asset checks verify, as functions returning the offending leads.
- `publish`: the four First_Response fields to write (`plan_first_response_writes`).
"""
