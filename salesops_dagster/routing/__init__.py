"""Lead routing: policy rules compiled to DuckDB SQL, a deterministic weighted round robin whose
state is the decision history, the decision table, and the backtest. No Dagster, no Salesforce."""
