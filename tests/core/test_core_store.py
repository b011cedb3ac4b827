import json
import subprocess
import sys
import sqlite3

import pytest

from harness.errors import StoreError
from harness.results.exchange_log import Exchange
from harness.results.run_folder import RunFolder
from harness.results.store import ResultsStore, TelemetrySample, TestRecord


def _ex(seq, test="t", rc=0):
    return Exchange(seq, 1.0 + seq, test, 0x17B, "TPM2_GetRandom", 12, 20, rc, "TPM_RC_SUCCESS",
                    0.001, 0, 0, 0, 0, "")


_WRITER = """
import sys
from harness.results.exchange_log import Exchange
from harness.results.store import ResultsStore, TestRecord
path, worker, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = ResultsStore(path)
for i in range(n):
    store.add_exchanges([Exchange(i, 1.0, "t", 0x17B, "TPM2_GetRandom", 12, 20, 0,
                                  "TPM_RC_SUCCESS", 0.001, 0, 0, 0, 0, "")], worker=worker)
    store.add_test(TestRecord(f"{worker}::t{i}", "passed", 0.1, 1.0, 1.1))
store.close()
"""


def test_concurrent_writers_lose_nothing(tmp_path):
    """Three processes (as xdist workers and a telemetry sampler would) write at once."""
    ResultsStore(tmp_path).close()
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), f"gw{i}", "200"])
             for i in range(3)]
    for p in procs:
        assert p.wait(timeout=120) == 0
    with ResultsStore(tmp_path) as store:
        assert store.counts()["exchanges"] == 600 and store.counts()["tests"] == 600


def test_exchanges_are_idempotent_per_worker_and_seq(tmp_path):
    with ResultsStore(tmp_path) as store:
        store.add_exchanges([_ex(0), _ex(1)], worker="a")
        store.add_exchanges([_ex(1), _ex(2)], worker="a")
        assert store.counts()["exchanges"] == 3


def test_points_resume_discards_partial_data(tmp_path):
    with ResultsStore(tmp_path) as store:
        store.start_point("p1", 1, "25C", {"temperature": 25})
        store.add_exchanges([_ex(0)], worker="w", point_id="p1")
        store.add_telemetry([TelemetrySample(1.0, "chamber", "temperature", 25.1, "degC", "p1")])
        store.discard_point_data("p1")
        assert store.counts()["exchanges"] == 0 and store.counts()["telemetry"] == 0
        store.finish_point("p1")
        assert store.query("SELECT status FROM points")[0][0] == "done"


def test_newer_schema_is_refused(tmp_path):
    ResultsStore(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "store.sqlite")
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        ResultsStore(tmp_path)


def test_not_a_database_is_a_store_error(tmp_path):
    (tmp_path / "store.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="store.sqlite"):
        ResultsStore(tmp_path)


def test_summary_verdicts(tmp_path):
    folder = RunFolder.create(tmp_path, "run1")
    assert folder.summarize()["verdict"] == "NO TESTS RAN"
    folder.store.add_test(TestRecord("a", "passed", 0.1, 1, 2))
    assert folder.summarize()["verdict"] == "PASS"
    folder.store.add_test(TestRecord("b", "failed", 0.1, 1, 2, message="boom"))
    summary = folder.summarize()
    assert summary["verdict"] == "FAIL" and summary["outcomes"] == {"passed": 1, "failed": 1}
    assert json.loads((folder.path / "summary.json").read_text())["verdict"] == "FAIL"
