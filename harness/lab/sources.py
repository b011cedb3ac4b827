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
               "parent_run", "verdict", "target_uri"]
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


def from_folders(paths: list[str | Path]) -> RunData:
    """Read results folders (run folders, fan-out folders, folders of runs)."""
    runs, tests, exchanges = [], [], []
    for info, folder in iter_runs(paths):
        try:
            runs.append({k: v for k, v in asdict(info).items() if k in RUN_COLUMNS})
            tests.append(_frame(*table_rows(folder, "tests"), TEST_COLUMNS, info.run_id))
            exch = _frame(*table_rows(folder, "exchanges"), EXCHANGE_COLUMNS, info.run_id)
            exchanges.append(exch[exch["rc"] >= 0])  # complete exchanges only
        finally:
            folder.close()
    return RunData(
        pd.DataFrame(runs, columns=RUN_COLUMNS),
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
    runs = _query(conn, f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE {' AND '.join(where)} "
                  "ORDER BY created", tuple(params), RUN_COLUMNS)
    ids = list(runs["run_id"])
    tests = _query(conn, f"SELECT {', '.join(TEST_COLUMNS)} FROM tests WHERE run_id = ANY(%s) "
                   "ORDER BY run_id, id", (ids,), TEST_COLUMNS)
    exchanges = _query(conn, f"SELECT {', '.join(EXCHANGE_COLUMNS)} FROM exchanges "
                       "WHERE run_id = ANY(%s) AND rc >= 0", (ids,), EXCHANGE_COLUMNS)
    return RunData(runs, tests, exchanges)


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
