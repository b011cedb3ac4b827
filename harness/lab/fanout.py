"""``tpmhil run --places MATCH``: the suites on every matching place at once.

One ``tpmhil run`` process per place (so a hung or crashing board cannot
take the others down), each acquiring its place through the coordinator
(``labgrid://PLACE``), all writing into one run folder::

    results/<run-id>/            the fan-out run (kind "fanout": meta, events, summary.json)
        places/<place>/          one complete results folder per place
        places/<place>.log       that place's console output

``tpmhil ingest``, ``trend`` and ``diff`` read the places as runs of their own,
linked to the fan-out by ``parent_run``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from harness.child_process import dying_with_parent
from harness.errors import ConfigError
from harness.lab.coordinator import Coordinator, coordinator_address
from harness.lab.names import safe_component, under
from harness.run_suites import stop_child
from harness.results.run_folder import DEFAULT_BASE, RunFolder

#: Bound on one place's whole run; the TPM waits inside are bounded too.
PLACE_TIMEOUT_S = 6 * 3600.0


def _pop_option(argv: list[str], flag: str, default: str | None) -> tuple[str | None, list[str]]:
    """Remove ``flag VALUE`` (or ``flag=VALUE``) from argv; return the value and the rest."""
    value, rest, i = default, [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == flag and i + 1 < len(argv):
            value, i = argv[i + 1], i + 2
            continue
        if arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return value, rest


def _tpmhil() -> list[str]:
    script = Path(sys.executable).parent / "tpmhil"
    return [str(script)] if script.exists() else [sys.executable, "-m", "harness.cli.main"]


def matching_places(match: str, address: str) -> list[str]:
    coordinator = Coordinator(address)
    try:
        return coordinator.places(match)
    finally:
        coordinator.close()


def run_places(match: str, run_args: list[str], coordinator: str | None = None,
               timeout_s: float = PLACE_TIMEOUT_S) -> int:
    """Run ``tpmhil run`` on every place whose name contains ``match``.

    Args:
        match: substring of place names (labgrid's own matching rule).
        run_args: further ``tpmhil run`` arguments (``--results BASE``, ``--suite``, ``-m``...).
        coordinator: HOST:PORT, default $LG_COORDINATOR.
        timeout_s: bound on each place's run; a place past it is stopped and failed.

    Returns:
        0 when every place passed, 1 when any failed, 2 if any could not run.
    """
    address = coordinator_address(coordinator)
    places = matching_places(match, address)
    if not places:
        raise ConfigError(f"no labgrid place on {address} matches {match!r}")
    base, rest = _pop_option(run_args, "--results", DEFAULT_BASE)
    run_id, rest = _pop_option(rest, "--run-id", None)
    if run_id is not None:
        under(base, run_id, "--run-id")
    for place in places:  # names from the coordinator become folder names: check them
        safe_component(place, "labgrid place name")
    for flag in ("--tpm", "--places"):
        if any(a == flag or a.startswith(flag + "=") for a in rest):
            raise ConfigError(f"{flag} cannot be combined with --places")
    parent = RunFolder.create(base, run_id, kind="fanout")
    store = parent.store
    store.set_meta("places", places)
    store.set_meta("target_uri", f"labgrid places matching {match!r} on {address}")
    places_dir = parent.path / "places"
    places_dir.mkdir()
    print(f"tpmhil run --places {match}: {len(places)} place(s) -> {parent.path}", flush=True)
    procs: dict[str, tuple[subprocess.Popen, float]] = {}
    env = {**os.environ, "LG_COORDINATOR": address}
    for place in places:
        argv = [*_tpmhil(), "run", "--tpm", f"labgrid://{place}?coordinator={address}",
                "--results", str(places_dir), "--run-id", place, "--no-report", *rest]
        log = open(places_dir / f"{place}.log", "wb")
        procs[place] = (subprocess.Popen(dying_with_parent(argv), stdout=log,
                                         stderr=subprocess.STDOUT, env=env), time.monotonic())
        log.close()
        store.add_event("place_started", {"place": place, "argv": argv})
    try:
        codes = _wait_all(procs, timeout_s, store)
    except BaseException:  # Ctrl-C / SIGTERM: no place's run outlives the fan-out
        for proc, _ in procs.values():
            stop_child(proc)
        raise
    parent.summarize({"places": {p: {"exit_code": c, "verdict": _verdict(places_dir / p)}
                                 for p, c in codes.items()}})
    parent.close()
    width = max(len(p) for p in places)
    for place, code in sorted(codes.items()):
        print(f"  {place:<{width}}  {_verdict(places_dir / place):<12} exit {code}")
    if any(code not in (0, 1) for code in codes.values()):
        return 2
    return 1 if any(codes.values()) else 0


def _wait_all(procs: dict[str, tuple[subprocess.Popen, float]], timeout_s: float,
              store) -> dict[str, int]:
    codes: dict[str, int] = {}
    while len(codes) < len(procs):
        for place, (proc, started) in procs.items():
            if place in codes:
                continue
            code = proc.poll()
            if code is None and time.monotonic() - started > timeout_s:
                proc.terminate()
                try:
                    code = proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    code = proc.wait(timeout=10)
                store.add_event("place_timeout", {"place": place, "timeout_s": timeout_s})
                code = 124
            if code is not None:
                codes[place] = code
                store.add_event("place_finished", {"place": place, "exit_code": code})
        time.sleep(0.2)
    return codes


def _verdict(folder: Path) -> str:
    summary = RunFolder(folder).read_json("summary.json", {}) if folder.is_dir() else {}
    return str((summary or {}).get("verdict", "NOT RUN"))
