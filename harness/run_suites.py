"""Run the shipped suites against a target into a results folder.

The suites run in a pytest subprocess (so pytest-xdist, plugins and a
crashing test cannot take the caller down); the plugin writes every test and
TPM exchange into the folder's store, and this module then exports the
command log and writes summary.json.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import suites as _suites_pkg

from harness.child_process import dying_with_parent
from harness.errors import ConfigError
from harness.results.run_folder import RunFolder

SUITES_DIR = Path(list(_suites_pkg.__path__)[0])
SUITE_NAMES = ("functional", "conformance", "security", "attestation")


def resolve_selection(words: list[str], cwd: Path | None = None) -> list[str]:
    """pytest arguments with shipped-suite paths made absolute.

    A campaign or a lab script names tests as ``suites/functional/test_pcr.py::x``;
    run from any folder, that must still reach the suites this installation ships
    (not the current folder). Paths that exist relative to ``cwd`` and options are
    kept as given.
    """
    here = Path(cwd) if cwd is not None else Path.cwd()
    out = []
    for word in words:
        path, sep, rest = word.partition("::")
        if (not word.startswith("-") and path.split("/", 1)[0] == SUITES_DIR.name
                and not (here / path).exists() and (SUITES_DIR.parent / path).exists()):
            word = str(SUITES_DIR.parent / path) + sep + rest
        out.append(word)
    return out


def suite_paths(names: list[str]) -> list[Path]:
    """Folders of the named suites (``all`` = every suite shipped)."""
    if not names:
        names = ["functional"]
    if "all" in names:
        return [SUITES_DIR]
    out = []
    for name in names:
        path = SUITES_DIR / name
        if name not in SUITE_NAMES and not path.is_dir():
            raise ConfigError(f"unknown suite {name!r}; shipped suites: "
                              f"{', '.join(n for n in SUITE_NAMES if (SUITES_DIR / n).is_dir())}, all")
        if not path.is_dir():
            raise ConfigError(f"suite {name!r} is not part of this installation ({path})")
        out.append(path)
    return out


@dataclass
class SuiteRun:
    """What to run and where to write it."""

    target: str
    folder: RunFolder
    paths: list[Path]
    markexpr: str | None = None
    keyword: str | None = None
    workers: int = 0
    chip_profile: str | None = None
    allow_destructive: str | None = None
    point: str | None = None
    env_coupling: str | None = None
    quiet: bool = True
    extra: list[str] = field(default_factory=list)
    #: extra environment for the pytest child (e.g. $TPMHIL_OWNER_AUTH: kept off its argv)
    env: dict[str, str] = field(default_factory=dict)

    def command(self) -> list[str]:
        folder = self.folder.path.resolve()
        cmd = [sys.executable, "-m", "pytest", *map(str, self.paths),
               "--tpm", self.target, "--results", str(folder),
               "--junitxml", str(folder / "junit.xml"),
               "--alluredir", str(folder / "allure-results"),
               "--rootdir", str(SUITES_DIR.parent), "-p", "no:cacheprovider",
               "-o", "junit_family=xunit2", "-rfE"]
        if self.quiet:
            cmd.append("-q")
        for flag, value in (("-m", self.markexpr), ("-k", self.keyword),
                            ("--chip-profile", self.chip_profile),
                            ("--allow-destructive", self.allow_destructive),
                            ("--point", self.point), ("--env-coupling", self.env_coupling)):
            if value:
                cmd += [flag, value]
        if self.workers:
            cmd += ["-n", str(self.workers)]
        return cmd + self.extra

    def run(self) -> int:
        """Run pytest; returns its exit code (0 all passed, 1 failures, 5 no tests).

        The pytest child never outlives this process: it gets SIGTERM when the
        harness dies (parent-death signal), and when the harness is stopped
        with SIGTERM or SIGINT the child is terminated (then killed after
        :data:`STOP_GRACE_S`) before KeyboardInterrupt goes on.
        """
        env = dict(os.environ)
        env.update(self.env)
        env.setdefault("TSS2_LOG", "all+NONE")
        child = subprocess.Popen(dying_with_parent(self.command()), env=env)
        previous = _on_sigterm_interrupt()
        try:
            return child.wait()
        except BaseException:
            stop_child(child)
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


#: Seconds a stopped pytest child gets to write its last records before SIGKILL.
STOP_GRACE_S = 10.0


def stop_child(child: subprocess.Popen) -> None:
    """Terminate ``child``; kill it if it is still there after the grace time."""
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=STOP_GRACE_S)


def _raise_interrupt(signum, frame) -> None:  # noqa: ANN001
    raise KeyboardInterrupt


def _on_sigterm_interrupt():
    """Make SIGTERM raise KeyboardInterrupt (main thread only); return the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)
