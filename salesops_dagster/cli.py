"""The `salesops` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_sync(args: argparse.Namespace) -> int:
    from salesops_dagster.sync import ensure_dagster_home, format_summary, run_sync

    ensure_dagster_home()
    result = run_sync()
    print(format_summary(result))
    return 0 if result.success else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    from salesops_dagster.demo import run_demo

    return run_demo(Path(args.dir), n_leads=args.leads, seed=args.seed)


def _cmd_policy(args: argparse.Namespace) -> int:
    from salesops_dagster import settings
    from salesops_dagster.policy.cli import backtest_command, validate_command

    if args.policy_command == "validate":
        return validate_command(args.file, args.warehouse)
    return backtest_command(
        args.file, args.warehouse or settings.warehouse_path(), args.since, args.csv
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="salesops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    devorg = sub.add_parser("devorg", help="the local Salesforce-compatible dev org")
    devorg.add_argument("devorg_command", choices=["serve"], help="serve it over HTTPS")

    sync = sub.add_parser("sync", help="one incremental pass of the whole graph")
    sync.set_defaults(func=_cmd_sync)

    demo = sub.add_parser("demo", help="dev org with synthetic data, two full syncs, a summary")
    demo.add_argument("--dir", default="data/demo", help="demo folder, recreated on each run")
    demo.add_argument("--leads", type=int, default=2000, help="synthetic leads (default 2000)")
    demo.add_argument("--seed", type=int, default=7, help="synthetic data seed (default 7)")
    demo.set_defaults(func=_cmd_demo)

    policy = sub.add_parser("policy", help="validate or backtest a routing policy file")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    validate = policy_sub.add_parser("validate", help="print every problem with its JSON path")
    validate.add_argument("file")
    validate.add_argument(
        "--warehouse", help="also check user and queue Ids against this DuckDB file"
    )
    validate.set_defaults(func=_cmd_policy)
    backtest = policy_sub.add_parser(
        "backtest", help="replay FILE over the decisions made, without writing"
    )
    backtest.add_argument("file")
    backtest.add_argument("--since", help="only leads created on or after YYYY-MM-DD")
    backtest.add_argument("--warehouse", help="DuckDB file (default: SALESOPS_WAREHOUSE)")
    backtest.add_argument("--csv", help="also write the table as CSV here")
    backtest.set_defaults(func=_cmd_policy)

    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["devorg", "serve"]:  # the dev org parses its own options
        from salesops_dagster.devorg.server import serve

        return serve(argv[2:]) or 0
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
