"""Pictures: ``tpmhil trend`` draws pass rate over time and latency by command, ``tpmhil diff``
draws A against B, names both runs and warns when chip or bus differ."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from matplotlib.image import imread


def _png(path: Path) -> None:
    """A real, decodable PNG with something drawn on it."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400, image.shape
    assert image.std() > 0.01  # not a blank canvas


def _elsewhere(run: Path, dst: Path) -> Path:
    """A copy of ``run`` recorded as another chip on another bus (an SPI ST33 board)."""
    shutil.copytree(run, dst)
    with sqlite3.connect(dst / "store.sqlite") as db:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        target = {**json.loads(meta["target"]), "bus": "spi"}
        brief = {**json.loads(meta["identity_brief"]), "manufacturer": "STM", "vendor": "ST33KTPM"}
        for key, value in (("run_id", "B-spi"), ("target", target), ("identity_brief", brief)):
            db.execute("UPDATE meta SET value = ? WHERE key = ?", (json.dumps(value), key))
    return dst


def test_trend_writes_pass_rate_and_latency_pictures(cli, two_runs, tmp_path):
    done = cli.run(["trend", *map(str, two_runs), "--period", "run"], tmp_path)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "results" / "plots" / "trend"  # the default, under the working folder
    for name in ("pass_rate_over_time.png", "latency_by_command.png"):
        _png(folder / name)
        assert f"plot: {Path('results/plots/trend') / name}" in done.stdout
    chosen = cli.run(["trend", *map(str, two_runs), "--plots", str(tmp_path / "mine")], tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == [
        "latency_by_command.png", "pass_rate_over_time.png"]


def test_diff_names_both_runs_and_draws_them(cli, two_runs, tmp_path):
    a, b = two_runs
    done = cli.run(["diff", str(a), str(b), "--plots", str(tmp_path / "p")], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "A (baseline):  A (chip IBM SW TPM, firmware 20191023.00163636, bus socket)" in done.stdout
    assert "B (candidate): B (chip IBM SW TPM, firmware 20191023.00163636, bus socket)" in done.stdout
    assert "warning" not in done.stderr
    _png(tmp_path / "p" / "latency_a_vs_b.png")


def test_diff_warns_when_chip_or_bus_differ(cli, two_runs, tmp_path):
    other = _elsewhere(two_runs[1], tmp_path / "B-spi")
    done = cli.run(["diff", str(two_runs[0]), str(other), "--plots", str(tmp_path / "p"),
                    "--json"], tmp_path)
    doc = cli.only_json(done)
    assert done.returncode == doc["exit_code"], done.stderr
    assert "B-spi (chip STM ST33KTPM, firmware 20191023.00163636, bus spi)" in done.stderr
    assert ("warning: the runs differ in chip: A IBM SW TPM vs B STM ST33KTPM; latency and "
            "failures may come from the chip, not the change") in done.stderr
    assert "warning: the runs differ in bus: A socket vs B spi" in done.stderr
    assert len(doc["warnings"]) == 2 and doc["run_b"][0]["bus"] == "spi"
    _png(Path(doc["plot"]))


def test_an_unwritable_plot_folder_costs_the_picture_not_the_verdict(cli, two_runs, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = cli.run(["diff", *map(str, two_runs), "--plots", str(blocker / "sub")], tmp_path)
    assert done.returncode == 0 and "verdict: no regression" in done.stdout, done.stderr
    assert f"note: no plot: cannot write {blocker / 'sub'}: Not a directory" in done.stderr


def test_trend_for_one_command_draws_only_that_command(cli, two_runs, tmp_path):
    done = cli.run(["trend", *map(str, two_runs), "--command", "TPM2_NoSuchCommand", "--plots",
                    str(tmp_path / "p"), "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert cli.only_json(done)["plots"] == [str(tmp_path / "p" / "pass_rate_over_time.png")]
    one = cli.run(["trend", *map(str, two_runs), "--command", "TPM2_GetRandom", "--plots",
                   str(tmp_path / "q"), "--json"], tmp_path)
    assert len(cli.only_json(one)["plots"]) == 2
    _png(tmp_path / "q" / "latency_by_command.png")
