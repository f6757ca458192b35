"""Which activity answers a lead, and which answer came first: the response SQL of a TTFR refresh.

Semantics (DESIGN.md, "TTFR semantics"). For lead L with CreatedDate C a response is

1. a Task: not deleted, `WhoId = L.Id`, `CreatedDate >= C`, `coalesce(TaskSubtype, Type)` among
   the policy's `first_touch.counted_task_kinds`, `OwnerId` not among its `excluded_user_ids`
   (the predicate comes compiled from the policy, see `sql._compile`). Time `CreatedDate`,
   responder `OwnerId`, source `Task`;
2. an EmailMessage: not deleted, not incoming, not a draft (`Status` '5'), `MessageDate >= C`,
   linked to L by a (not deleted) EmailMessageRelation with `RelationId = L.Id` and RelationType
   To/Cc/BccAddress, or by `ActivityId` -> a Task whose `WhoId = L.Id` (the Task itself may be
   deleted or uncounted: the link is what matters). Time `MessageDate`, responder `FromAddress`,
   source `EmailMessage`. A null `Incoming` is read as false (Salesforce's default);

and the first response is the smallest by (time, Task before EmailMessage, record Id). An
Enhanced Email is a Task (TaskSubtype 'Email') plus an EmailMessage whose ActivityId is that Task,
both stamped with the same time: they are one response, and the tie-break makes it the Task, so a
pair never yields two responses nor the EmailMessage as source. An email linked twice (relation and
ActivityId) counts once.

How the first one is found, in three temp tables
------------------------------------------------
1. `_ttfr_reached`: every candidate joined to its lead (`_ttfr_leads`, keyed on from there by
   `lead_no`, the Lead row's rowid) and kept when not before the lead's creation. A candidate
   carries its time, its source rank (0 Task, 1 EmailMessage) and `row_ref`, the rowid of its
   Task or EmailMessage row, but not its Id and responder: two strings per candidate through the
   aggregate over ten million candidates made a full recompute 3.48 s instead of 3.08 s
   (benchmarks/ttfr.py, 1M leads), and only the winners need them. Rowids are stable here: a
   refresh reads one snapshot in its own transaction and writes no raw table.
2. `_ttfr_found`: per lead the smallest (time, source rank), as one BIGINT (`epoch_us * 2 + rank`,
   monotone in both); the candidates at that minimum (usually one; the same email twice when it is
   linked twice; several tasks stamped in the same millisecond) fetch their Id and responder by
   rowid, and the smallest Id wins.
3. `_ttfr_chosen`: the never-later choice between that and the stored response (`sql` module
   docstring), with the lead's own columns.

Incremental candidates
----------------------
A refresh that is not a full recompute builds candidates only from the raw rows loaded since the
last one (`_ttfr_changed_*`, copies that keep their rowid as `row_ref`), plus every candidate of the
leads that are new or whose CreatedDate changed (`_ttfr_changed_leads.rescan`); the `sql` module
docstring says why that finds everything a full recompute would.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

LINK_RELATION_TYPES = ("ToAddress", "CcAddress", "BccAddress")
TEMP_TABLES = (
    "_ttfr_changed_tasks",
    "_ttfr_changed_emails",
    "_ttfr_changed_relations",
    "_ttfr_changed_leads",
    "_ttfr_candidates",
    "_ttfr_reached",
    "_ttfr_found",
    "_ttfr_chosen",
)

# Row sources exposing `row_ref` (the base table's rowid) next to their columns.
_TASKS = "(SELECT rowid AS row_ref, * FROM salesforce.task)"
_EMAILS = "(SELECT rowid AS row_ref, * FROM salesforce.email_message)"
_RELATIONS = "salesforce.email_message_relation"

_EMAIL_COUNTS = (
    'NOT e._is_deleted AND NOT coalesce(e."Incoming", false) '
    'AND e."Status" IS DISTINCT FROM \'5\' AND e."MessageDate" IS NOT NULL'
)
_RELATION_LINKS = (
    'NOT r._is_deleted AND r."RelationId" IS NOT NULL AND r."RelationType" IN '
    "(" + ", ".join(f"'{t}'" for t in LINK_RELATION_TYPES) + ")"
)


def _task_candidates(tasks: str, task_counts: str) -> str:
    """Counted Tasks of `tasks` (a source with `row_ref`); `task_counts` is a predicate on `t`."""
    return f"""
    SELECT t."WhoId" AS lead_id, t."CreatedDate" AS responded_at, 0 AS source_rank, t.row_ref
    FROM {tasks} AS t
    WHERE {task_counts}"""  # noqa: S608 - sources are constants, values bound


def _email_candidates(emails: str, relations: str, tasks: str) -> str:
    """Outbound emails of `emails` (a source with `row_ref`) linked to a lead through
    `relations` or via ActivityId to a Task of `tasks`."""
    return f"""
    SELECT r."RelationId" AS lead_id, e."MessageDate" AS responded_at, 1 AS source_rank, e.row_ref
    FROM {emails} AS e
    JOIN {relations} AS r ON r."EmailMessageId" = e."Id"
    WHERE {_EMAIL_COUNTS} AND {_RELATION_LINKS}
    UNION ALL
    SELECT a."WhoId", e."MessageDate", 1, e.row_ref
    FROM {emails} AS e
    JOIN {tasks} AS a ON a."Id" = e."ActivityId"
    WHERE {_EMAIL_COUNTS} AND a."WhoId" IS NOT NULL"""  # noqa: S608 - sources are constants


def full_candidates(task_counts: str) -> str:
    """Every candidate response in the raw tables, as a parenthesised query."""
    return (
        "("
        + _task_candidates(_TASKS, task_counts)
        + "\n    UNION ALL"
        + _email_candidates(_EMAILS, _RELATIONS, _TASKS)
        + ")"
    )


def prepare_changes(con: duckdb.DuckDBPyConnection, mark: datetime, mart: str) -> None:
    """The raw rows loaded after `mark` as temp tables, and the changed leads (`rescan`: new, or
    CreatedDate moved since `mart` last saw them)."""
    for table, source, ref in (
        ("_ttfr_changed_tasks", "salesforce.task", "rowid AS row_ref, "),
        ("_ttfr_changed_emails", "salesforce.email_message", "rowid AS row_ref, "),
        ("_ttfr_changed_relations", "salesforce.email_message_relation", ""),
    ):
        sql = f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {ref}* FROM {source} "  # noqa: S608
        con.execute(sql + "WHERE _synced_at > $mark", {"mark": mark})
    # Only a new lead, or one whose CreatedDate moved, can gain a response from activity that
    # did not change; any other lead change (owner, status, our own write-back coming back)
    # needs its derived columns recomputed, not its activity searched again.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _ttfr_changed_leads AS
        SELECT lead."Id" AS lead_id,
               s.lead_id IS NULL OR s.lead_created_at IS DISTINCT FROM lead."CreatedDate"
                   AS rescan
        FROM salesforce.lead AS lead
        LEFT JOIN {mart} AS s ON s.lead_id = lead."Id"
        WHERE lead._synced_at > $mark
        """,  # noqa: S608 - constant names
        {"mark": mark},
    )


def incremental_candidates(task_counts: str) -> str:
    """Candidates with at least one row changed since the mark, and every candidate of the leads
    that are new or whose CreatedDate changed; needs `prepare_changes` first."""
    rescan = "(SELECT lead_id FROM _ttfr_changed_leads WHERE rescan)"
    lead_tasks = f'(SELECT rowid AS row_ref, * FROM salesforce.task WHERE "WhoId" IN {rescan})'  # noqa: S608
    lead_relations = f'(SELECT * FROM {_RELATIONS} WHERE "RelationId" IN {rescan})'  # noqa: S608
    parts = [
        _task_candidates("_ttfr_changed_tasks", task_counts),
        _task_candidates(lead_tasks, task_counts),
        _email_candidates("_ttfr_changed_emails", _RELATIONS, _TASKS),
        _email_candidates(_EMAILS, "_ttfr_changed_relations", "_ttfr_changed_tasks"),
        _email_candidates(_EMAILS, lead_relations, lead_tasks),
    ]
    return "\n    UNION ALL".join(parts)


def reached_sql(candidates: str) -> str:
    """`_ttfr_reached` from `candidates` (a parenthesised query or a table) and `_ttfr_leads`."""
    return f"""
CREATE OR REPLACE TEMP TABLE _ttfr_reached AS
SELECT l.lead_no, c.responded_at, c.source_rank, c.row_ref
FROM {candidates} AS c
JOIN _ttfr_leads AS l ON l.lead_id = c.lead_id
WHERE c.responded_at >= l.created_at
"""  # noqa: S608 - built from constants


FOUND_SQL = """
CREATE OR REPLACE TEMP TABLE _ttfr_found AS
WITH firsts AS (
    SELECT lead_no, min(epoch_us(responded_at) * 2 + source_rank) AS first_key
    FROM _ttfr_reached
    GROUP BY lead_no
), tied AS (  -- an email linked twice comes twice: same record, same responder
    SELECT r.lead_no, r.responded_at, r.source_rank, r.row_ref
    FROM _ttfr_reached AS r
    JOIN firsts AS f
        ON f.lead_no = r.lead_no
        AND f.first_key = epoch_us(r.responded_at) * 2 + r.source_rank
), named AS (
    SELECT x.lead_no, x.responded_at, x.source_rank, t."Id" AS record_id, t."OwnerId" AS responder
    FROM tied AS x
    JOIN salesforce.task AS t ON t.rowid = x.row_ref
    WHERE x.source_rank = 0
    UNION ALL
    SELECT x.lead_no, x.responded_at, x.source_rank, e."Id", e."FromAddress"
    FROM tied AS x
    JOIN salesforce.email_message AS e ON e.rowid = x.row_ref
    WHERE x.source_rank = 1
)
SELECT
    lead_no,
    any_value(responded_at) AS responded_at,   -- equal within a lead: the tie is on them
    any_value(source_rank) AS source_rank,
    min(record_id) AS record_id,
    arg_min(responder, record_id) AS responder  -- one record, one responder
FROM named
GROUP BY lead_no
"""

# The never-later choice: the stored response wins when it is earlier by the full ordering (and
# still a response: not before the lead's creation); `keep` is false when nothing is stored.
_CHOSEN_SQL = """
CREATE OR REPLACE TEMP TABLE _ttfr_chosen AS
WITH joined AS (
    SELECT
        l.*,
        f.responded_at AS f_at,
        f.source_rank AS f_rank,
        f.record_id AS f_id,
        f.responder AS f_user,
        s.first_response_at AS s_at,
        CASE s.first_response_source WHEN 'Task' THEN 0 WHEN 'EmailMessage' THEN 1 END AS s_rank,
        s.first_response_record_id AS s_id,
        s.first_response_user AS s_user
    FROM _ttfr_leads AS l
    LEFT JOIN _ttfr_found AS f ON f.lead_no = l.lead_no
    LEFT JOIN {stored} AS s ON s.lead_id = l.lead_id
), decided AS (
    SELECT *,
        coalesce(s_at IS NOT NULL AND s_at >= created_at AND (
            f_at IS NULL
            OR s_at < f_at
            OR (s_at = f_at AND (s_rank < f_rank OR (s_rank = f_rank AND s_id <= f_id)))
        ), false) AS keep
    FROM joined
)
SELECT
    lead_id, created_at, is_deleted, is_converted, segment, region,
    CASE WHEN keep THEN s_at ELSE f_at END AS first_response_at,
    CASE WHEN keep THEN s_user ELSE f_user END AS first_response_user,
    CASE WHEN keep THEN s_rank ELSE f_rank END AS source_rank,
    CASE WHEN keep THEN s_id ELSE f_id END AS first_response_record_id,
    keep AND (f_id IS NULL OR f_id IS DISTINCT FROM s_id) AS kept_earlier
FROM decided
"""

_NO_STORED = (
    "(SELECT NULL::VARCHAR AS lead_id, NULL::TIMESTAMP AS first_response_at, "
    "NULL::VARCHAR AS first_response_source, NULL::VARCHAR AS first_response_record_id, "
    "NULL::VARCHAR AS first_response_user WHERE false)"
)


def chosen_sql(stored: str | None) -> str:
    """`_ttfr_chosen` against the mart `stored`, or against nothing (a reset)."""
    return _CHOSEN_SQL.format(stored=stored or _NO_STORED)
