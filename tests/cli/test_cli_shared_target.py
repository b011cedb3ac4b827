"""``tpmhil run -n N`` on one physical chip is refused before anything is recorded."""

from __future__ import annotations

import subprocess
import sys


def test_run_with_workers_on_a_shared_target_is_one_line_and_no_results(tmp_path):
    out = subprocess.run([sys.executable, "-m", "harness.cli.main", "run", "--tpm",
                          "swtpm://127.0.0.1:2321", "-n", "2", "--results", str(tmp_path / "r")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "is one TPM that all 2 pytest-xdist workers" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()  # nothing recorded, nothing signed


def test_spawned_and_virtual_targets_give_each_worker_its_own_tpm():
    from harness.targets.registry import open_target
    from harness.targets.sharing import per_worker

    assert per_worker(open_target("swtpm"))
    assert per_worker(open_target("spi+sim://st33ktpm"))
    assert not per_worker(open_target("swtpm://127.0.0.1:2321"))
    assert not per_worker(open_target("device:///dev/tpmrm0"))
