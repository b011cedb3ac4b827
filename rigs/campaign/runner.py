"""The campaign runner: walks the points, drives the rig, runs the suites at
each point in a pytest subprocess, checks EFP/EFT, and survives being killed.

Resumability: the store's ``points`` table is the journal. A point is
``running`` from the moment the runner starts moving the rig to it until every
record of it is written, then ``done``. On resume, points that are ``done``
are skipped; a point found ``running``/``aborted`` has its partial rows
removed (``discard_point_data``) and is run again, so nothing is lost or
duplicated. The pytest child dies with the runner (PR_SET_PDEATHSIG), so no
orphan writes after a kill; a lock file stops two runners sharing a folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from harness.child_process import dying_with_parent
from harness.errors import HarnessError
from harness.results.run_folder import RunFolder
from harness.results.store import TestRecord
from rigs.campaign.efp_check import REQUIREMENTS, run_efp_check
from rigs.campaign.model import Campaign, Point, envelope, out_of_range, stressed
from rigs.campaign.progress import Progress
from rigs.campaign.telemetry import CouplingState, TelemetrySampler
from rigs.errors import CampaignAbort, InstrumentError, RigConfigError
from rigs.protocols.chamber import AMBIENT_C
from rigs.setup import Rig, load_setup

STATE_FILE = "env_state.json"
LOCK_FILE = ".campaign.lock"


def pick_target(candidates: tuple[str, ...]) -> str:
    """The first target string whose kind this installation provides."""
    from harness.targets.registry import resolve

    errors = []
    for text in candidates:
        try:
            resolve(text)
            return text
        except HarnessError as exc:
            errors.append(f"{text}: {exc}")
    raise RigConfigError("no campaign target is available: " + "; ".join(errors))


class EfpLink:
    """The runner's own connection to the target, for the EFP/EFT check.

    Disposable targets (a spawned swtpm, a virtual chip: private to this
    process) stay open for the whole campaign, so the simulated brown-out
    reset reaches them. A real chip is opened for each check and released
    before the suites run, so the runner never holds a bus or device the
    pytest child needs.
    """

    def __init__(self, target: str, state_file: Path | None) -> None:
        from harness.targets import open_target

        self.text, self.state_file = target, state_file
        self._open_target = open_target
        self.target = None
        self.transport = None

    def __enter__(self):
        if self.transport is None:
            self.target = self._open_target(self.text)
            transport = self.target.open()
            if self.state_file is not None:
                from harness.transports.coupled import wrap_transport
                transport = wrap_transport(transport, self.state_file)
            self.transport = transport
        return self.transport

    def __exit__(self, *exc: object) -> None:
        if self.target is not None and not self.target.disposable:
            self.close()

    def close(self) -> None:
        if self.target is not None:
            self.target.close()
        self.target = self.transport = None


class CampaignRunner:
    """Runs one campaign into one results folder (new or resumed)."""

    def __init__(self, campaign: Campaign, folder: RunFolder, out: TextIO | None = None,
                 efp_rounds: int = 3) -> None:
        self.c, self.folder, self.store = campaign, folder, folder.store
        self.out = out or sys.stdout
        self.efp_rounds = efp_rounds
        self.rig: Rig | None = None
        self.sampler: TelemetrySampler | None = None
        self.child: subprocess.Popen | None = None
        self.state = CouplingState(folder.path / STATE_FILE, {
            "rated_c": list(campaign.rated_c), "rated_voltage_pct": campaign.rated_voltage_pct,
            "fault_model": campaign.fault_model, "seed": campaign.seed,
            "note": "SIMULATION: read by harness.transports.coupled, not a measurement"})
        self._lock_fd: int | None = None
        self.efp_failures = 0

    # -- set-up -----------------------------------------------------------------

    def _lock(self) -> None:
        self._lock_fd = os.open(self.folder.path / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CampaignAbort(f"{self.folder.path} is in use by another running campaign") from None

    def _check_same_campaign(self) -> None:
        digest = hashlib.sha256(self.c.path.read_bytes()).hexdigest()
        known = self.store.get_meta("campaign_sha256")
        if known is not None and known != digest:
            raise CampaignAbort(f"{self.folder.path} holds campaign {self.store.get_meta('campaign_name')!r} "
                                f"from a different file version; resume it with the same file")
        self.store.set_meta("campaign_sha256", digest)
        self.store.set_meta("campaign_name", self.c.name)
        self.store.set_meta("campaign_file", str(self.c.path))
        self.store.set_meta("kind", "campaign")

    def _open(self) -> None:
        self.rig = Rig(load_setup(self.c.rig_path), envelope(self.c)).open()
        self.store.set_meta("rig", {"setup": str(self.c.rig_path), "name": self.rig.setup.name,
                                    "simulated_instruments": self.rig.simulated})
        nominal = self.rig.nominal_voltage()
        self.state.update(nominal_voltage_v=nominal, voltage_v=nominal)
        if self.rig.supply is not None and nominal is not None:
            self.rig.supply.set_voltage(nominal)
            self.rig.supply.output(True)
        self.sampler = TelemetrySampler(self.rig, self.store, self.c.telemetry_interval_s,
                                        self.state.from_telemetry if self.c.coupling else None)
        self.sampler.sample_once()
        self.sampler.start()

    # -- the walk ---------------------------------------------------------------

    def run(self) -> int:
        self._lock()
        self._check_same_campaign()
        target = pick_target(self.c.targets)
        self.store.set_meta("campaign_target", target)
        status = dict(self.store.query("SELECT point_id, status FROM points"))
        done = sum(1 for p in self.c.points if status.get(p.point_id) == "done")
        progress = Progress(len(self.c.points), done, self.out)
        print(f"campaign {self.c.name}: {len(self.c.points)} points, {done} already done, "
              f"target {target}, results {self.folder.path}", file=self.out, flush=True)
        link = EfpLink(target, self.folder.path / STATE_FILE if self.c.coupling else None)
        try:
            self._open()
            for point in self.c.points:
                if status.get(point.point_id) == "done":
                    continue
                if point.point_id in status:
                    self.store.discard_point_data(point.point_id)
                    self.store.add_event("point_restarted", {"point_id": point.point_id,
                                                             "was": status[point.point_id]})
                self._run_point(point, target, link, progress)
                progress.done += 1
        except KeyboardInterrupt:
            self._safe_state("interrupted (Ctrl-C or SIGTERM)")
            raise
        except (InstrumentError, CampaignAbort) as exc:
            self._safe_state(str(exc))
            raise CampaignAbort(f"campaign stopped in a safe state: {exc}") from exc
        except BaseException as exc:  # anything else (target, store, bug): still safe
            self._safe_state(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._kill_child()
            if self.sampler is not None:
                self.sampler.stop()
            self._teardown()
            link.close()
        return 1 if self.efp_failures else 0

    def _check_instruments(self) -> None:
        if self.sampler is not None and self.sampler.failure is not None:
            raise self.sampler.failure

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self._check_instruments()
            time.sleep(min(0.2, left))

    def _run_point(self, point: Point, target: str, link: "EfpLink", progress: Progress) -> None:
        rig, pid = self.rig, point.point_id
        assert rig is not None and self.sampler is not None
        self.store.start_point(pid, point.seq, point.label, point.params())
        self.sampler.point_id = pid
        show = lambda stage: progress.show(point.seq + 1, point.label, self.sampler.latest,  # noqa: E731
                                           self.store.outcomes(), stage)
        if point.voltage_v is not None and rig.supply is not None:
            rig.supply.set_voltage(point.voltage_v)
            self.state.update(voltage_v=point.voltage_v)
        if point.temperature_c is not None and rig.chamber is not None:
            show("ramping")
            if point.ramp_c_per_min:
                rig.chamber.ramp_to(point.temperature_c, point.ramp_c_per_min, check=self._check_instruments)
            else:
                rig.chamber.set_temperature(point.temperature_c)
            rig.chamber.wait_stable(point.band_c, max(1.0, min(point.dwell_s, 5.0)),
                                    point.stable_timeout_s, poll_s=0.25, target_c=point.temperature_c,
                                    check=self._check_instruments)
        self.sampler.sample_once()
        for event in point.events:
            self._event(point, event.kind, event.params)
        show("dwell")
        self._sleep(point.dwell_s)
        show("efp check")
        with link as transport:
            self._efp(point, transport)
        for i, selection in enumerate(point.suites):
            show(f"suite {i + 1}/{len(point.suites)}")
            self._pytest(point, target, i, selection)
        self._check_instruments()
        self.store.finish_point(pid, "done")
        show("done")

    def _event(self, point: Point, kind: str, params: dict[str, float]) -> None:
        supply = self.rig.supply if self.rig else None
        if supply is None:
            raise RigConfigError(f"point {point.point_id}: {kind} needs a power supply in the rig")
        t0 = time.time()
        if kind == "brown_out":
            supply.brown_out(params["level_v"], params["duration_s"])
        else:
            supply.power_cycle(params.get("off_s", 0.5))
        self.state.bump_power_epoch()
        self.store.add_event(kind, {**params, "t_start": t0, "t_end": time.time(),
                                    "simulated_chip_reset": self.c.coupling}, point.point_id)

    def _efp(self, point: Point, transport: Any) -> None:
        nominal = self.rig.nominal_voltage() if self.rig else None
        t0 = time.time()
        transport.log.activity = f"rigs::efp_check[{point.point_id}]"
        result = run_efp_check(transport, self.efp_rounds)
        transport.log.activity = ""
        detail = {**result.to_dict(), "out_of_range": out_of_range(self.c, point, nominal),
                  "stressed": stressed(self.c, point, nominal), "simulated_coupling": self.c.coupling}
        self.store.add_exchanges(transport.log.drain(), worker=f"efp@{point.point_id}",
                                 point_id=point.point_id)
        self.store.add_event("efp_check", detail, point.point_id)
        outcome = "passed" if result.verdict == "PASS" else "failed"
        self.efp_failures += outcome == "failed"
        self.store.add_test(TestRecord(
            nodeid=f"rigs/campaign/efp_check.py::efp_eft[{point.point_id}]", outcome=outcome,
            duration_s=time.time() - t0, started=t0, finished=time.time(),
            markers=("environmental", "kat"), requirements=REQUIREMENTS,
            spec="ISO/IEC 19790 §7.8 EFP/EFT; TPM 2.0 Part 3 §15.4, §20.2, §16.1",
            message="" if outcome == "passed" else "; ".join(result.wrong_details[:3]),
            worker="campaign", point_id=point.point_id))

    def _pytest(self, point: Point, target: str, index: int, selection: str) -> None:
        from harness.run_suites import resolve_selection

        cmd = [sys.executable, "-m", "pytest", *resolve_selection(shlex.split(selection)), "--tpm", target,
               "--results", str(self.folder.path), "--point", point.point_id,
               "-p", "no:cacheprovider", "-q", *self.c.pytest_args]
        if self.c.coupling:
            cmd[cmd.index("--point") + 2:cmd.index("--point") + 2] = [
                "--env-coupling", str(self.folder.path / STATE_FILE)]
        env = {**os.environ, "PYTEST_XDIST_WORKER": f"{point.point_id}.s{index}"}
        log_path = self.folder.path / "pytest" / f"{point.point_id}.s{index}.log"
        log_path.parent.mkdir(exist_ok=True)
        with open(log_path, "w") as log:
            self.child = subprocess.Popen(dying_with_parent(cmd, "KILL"), stdout=log,
                                          stderr=subprocess.STDOUT, env=env)
            deadline = time.monotonic() + self.c.point_timeout_s
            while self.child.poll() is None:
                if time.monotonic() > deadline:
                    self._kill_child()
                    raise CampaignAbort(f"point {point.point_id}: {selection!r} ran past "
                                        f"point_timeout_s={self.c.point_timeout_s:g}")
                self._check_instruments()
                time.sleep(0.2)
        rc, self.child = self.child.returncode, None
        self.store.add_event("suite_run", {"selection": selection, "exit_code": rc,
                                           "log": str(log_path.relative_to(self.folder.path))},
                             point.point_id)
        if rc not in (0, 1):  # 1 = tests failed (a finding); anything else = could not run
            raise CampaignAbort(f"point {point.point_id}: pytest {selection!r} exited {rc}; "
                                f"see {log_path}")

    # -- safety -----------------------------------------------------------------

    def _kill_child(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.kill()
            self.child.wait(timeout=10)
        self.child = None

    def _safe_state(self, reason: str) -> None:
        """Supply off, chamber to ambient, each attempted even if another fails; recorded."""
        self._kill_child()
        actions: dict[str, str] = {}
        rig = self.rig
        if rig is not None and rig.supply is not None:
            try:
                rig.supply.output(False)
                actions[rig.supply.name] = "output off"
            except HarnessError as exc:
                actions[rig.supply.name] = f"could not switch off: {exc}"
        if rig is not None and rig.chamber is not None:
            try:
                rig.chamber.set_temperature(AMBIENT_C)
                actions[rig.chamber.name] = f"set point {AMBIENT_C} °C (ambient)"
            except HarnessError as exc:
                actions[rig.chamber.name] = f"could not reach: {exc}"
        running = self.store.query("SELECT point_id FROM points WHERE status='running'")
        for (pid,) in running:
            self.store.finish_point(pid, "aborted", reason)
        self.store.add_event("safe_state", {"reason": reason, "actions": actions,
                                            "points_aborted": [p for (p,) in running]})
        print(f"SAFE STATE: {reason}; " + "; ".join(f"{k}: {v}" for k, v in actions.items()),
              file=self.out, flush=True)

    def _teardown(self) -> None:
        if self.rig is None:
            return
        for name, action in (("supply", lambda: self.rig.supply and self.rig.supply.output(False)),
                             ("chamber", lambda: self.rig.chamber and self.rig.chamber.set_temperature(AMBIENT_C))):
            try:
                action()
            except HarnessError:
                pass  # already recorded by _safe_state when it matters
        self.rig.close()
        self.rig = None
