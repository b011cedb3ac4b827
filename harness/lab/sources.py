"""Where trend and diff read runs from: results folders or the lab database.

Both give the same three pandas frames, so the analysis never knows which
store it reads:

- ``runs``: run_id, created, chip_model, firmware, bus, place, verdict, ...
- ``tests``: run_id, nodeid, outcome, duration_s, point_id, worker
- ``exchanges``: run_id, test, command, rc, duration_s (complete exchanges)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from harness.errors import StoreError
from harness.lab.runs import iter_runs, table_rows

RUN_COLUMNS = ["run_id", "kind", "created", "chip_model", "firmware", "bus", "place",
               "parent_run", "verdict", "target_uri", "finished"]
#: Extra per-run facts (not in trend tables): the pytest exit code from summary.json.
EXIT_COLUMN = "pytest_exit_code"
TEST_COLUMNS = ["run_id", "nodeid", "outcome", "duration_s", "point_id", "worker"]
EXCHANGE_COLUMNS = ["run_id", "test", "command", "rc", "duration_s"]


@dataclass
class RunData:
    """Runs and their tests and exchanges, as frames."""

    runs: pd.DataFrame
    tests: pd.DataFrame
    exchanges: pd.DataFrame


def _frame(columns: list[str], rows: list[tuple], wanted: list[str], run_id: str) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=columns)
    df.insert(0, "run_id", run_id)
    return df[wanted]


def _exit_code(summary: dict) -> object:
    code = summary.get(EXIT_COLUMN)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def from_folders(paths: list[str | Path]) -> RunData:
    """Read results folders (run folders, fan-out folders, folders of runs).

    Every store is opened read-only and checked against the lab schema before
    its rows are used; a bad one stops the command with one line.
    """
    runs, tests, exchanges = [], [], []
    for info, folder in iter_runs(paths):
        try:
            for table in ("tests", "exchanges"):
                folder.validate(table)
            runs.append({**{k: v for k, v in asdict(info).items() if k in RUN_COLUMNS},
                         EXIT_COLUMN: _exit_code(info.summary)})
            tests.append(_frame(*table_rows(folder, "tests"), TEST_COLUMNS, info.run_id))
            exch = _frame(*table_rows(folder, "exchanges"), EXCHANGE_COLUMNS, info.run_id)
            exchanges.append(exch[exch["rc"] >= 0])  # complete exchanges only
        finally:
            folder.close()
    return RunData(
        pd.DataFrame(runs, columns=[*RUN_COLUMNS, EXIT_COLUMN]),
        pd.concat(tests, ignore_index=True) if tests else pd.DataFrame(columns=TEST_COLUMNS),
        pd.concat(exchanges, ignore_index=True) if exchanges else pd.DataFrame(columns=EXCHANGE_COLUMNS),
    )


def _query(conn, sql: str, params: tuple, columns: list[str]) -> pd.DataFrame:
    cur = conn.execute(sql, params)
    return pd.DataFrame(cur.fetchall(), columns=columns)


def from_database(conn, run_ids: list[str] | None = None, since: float | None = None) -> RunData:
    """Read runs from the lab database.

    Args:
        run_ids: these runs (a fan-out id brings its places' runs); None: all runs.
        since: only runs created at or after this UNIX time.
    """
    where, params = ["TRUE"], []
    if run_ids is not None:
        where.append("(run_id = ANY(%s) OR parent_run = ANY(%s))")
        params += [run_ids, run_ids]
    if since is not None:
        where.append("created >= %s")
        params.append(since)
    runs = _query(conn, f"SELECT {', '.join(RUN_COLUMNS)}, "
                  f"CASE WHEN jsonb_typeof(summary->'{EXIT_COLUMN}') = 'number' "
                  f"THEN (summary->>'{EXIT_COLUMN}')::numeric::bigint END "
                  f"FROM runs WHERE {' AND '.join(where)} ORDER BY created", tuple(params),
                  [*RUN_COLUMNS, EXIT_COLUMN])
    ids = list(runs["run_id"])
    tests = _query(conn, f"SELECT {', '.join(TEST_COLUMNS)} FROM tests WHERE run_id = ANY(%s) "
                   "ORDER BY run_id, id", (ids,), TEST_COLUMNS)
    exchanges = _query(conn, f"SELECT {', '.join(EXCHANGE_COLUMNS)} FROM exchanges "
                       "WHERE run_id = ANY(%s) AND rc >= 0", (ids,), EXCHANGE_COLUMNS)
    conn.rollback()  # read-only: end the implicit transaction
    return RunData(runs, tests, exchanges)


def check_complete(data: RunData, ref: str, role: str) -> None:
    """Refuse a run that cannot be compared: no tests judged, or a crashed or unfinished run.

    Raises:
        StoreError: naming the run and why.
    """
    judged = data.tests[data.tests["outcome"].isin(["passed", "failed", "error"])]
    if judged.empty:
        raise StoreError(f"{role} {ref}: no test results (an empty or crashed run); "
                         "nothing to compare")
    for _, run in data.runs.iterrows():
        code = run.get(EXIT_COLUMN)
        if pd.notna(code) and int(code) not in (0, 1):
            raise StoreError(f"{role} {ref}: run {run['run_id']} ended with pytest exit code "
                             f"{int(code)} (interrupted or crashed); not a complete run")
        if pd.isna(run.get("finished")):
            raise StoreError(f"{role} {ref}: run {run['run_id']} never finished (no summary); "
                             "not a complete run")


def load_run(ref: str, conn=None) -> RunData:
    """One run named by a path (results folder) or, with ``conn``, by its run id.

    Raises:
        StoreError: neither a results folder nor a run in the database.
    """
    if Path(ref).exists():
        return from_folders([ref])
    if conn is None:
        raise StoreError(f"{ref}: no such results folder (give --db to look runs up by id "
                         "in the lab database)")
    data = from_database(conn, [ref])
    if data.runs.empty:
        raise StoreError(f"run {ref!r} is not in the lab database")
    return data
