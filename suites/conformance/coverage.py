"""Command coverage of a conformance run, derived from the exchange log.

Every finished test appends one JSON line to a per-run ledger: the TPM
commands it sent (from the exchange log rows tagged with its node id), their
response codes, its outcome and whether it is a ``negative`` test. The ledger
is a file so that pytest-xdist workers share it; the coverage test reads it
once every other test has finished.

A command counts as *positively* covered when a passing test got
TPM_RC_SUCCESS for it **and declares** ``@pytest.mark.verifies("TPM2_X")``:
the test checked the command's output or effect against an independent
reference (software computation, a read-back, a signature verified in
software). Commands a test merely uses along the way earn nothing. It counts
as *negatively* covered when a passing ``negative`` test got an error code for
it (the test itself asserts which code).

A command neither covered nor failed because every test that declares it was
skipped on this target (destructive on a non-disposable target, a hierarchy
the lab has disabled, a capability the chip lacks) is *not run here*: listed
with the skip reasons, not failed. Commands the chip does not advertise are
not demanded at all.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.results.exchange_log import Exchange
from harness.tpm.names import command_code, command_name

_RUN_ENV = "TPMHIL_COVERAGE_LEDGER"


def ledger_path() -> Path:
    """The ledger of this run, shared by all xdist workers of one run."""
    explicit = os.environ.get(_RUN_ENV)
    if explicit:
        return Path(explicit)
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"serial-{os.getpid()}"
    return Path(tempfile.gettempdir()) / f"tpmhil-coverage-{uid}.jsonl"


def record_test(path: Path, nodeid: str, outcome: str, negative: bool,
                rows: list[Exchange], verifies: tuple[str, ...] = (), reason: str = "") -> None:
    """Append one finished test to the ledger (one line, one write).

    ``verifies``: command names of the test's ``verifies`` markers; ``reason``:
    why it was skipped.
    """
    commands = sorted({(int(r.command_code), int(r.rc)) for r in rows if r.rc >= 0})
    line = json.dumps({"test": nodeid, "outcome": outcome, "negative": negative,
                       "commands": commands, "verifies": list(verifies),
                       "reason": reason[:300]}) + "\n"
    with open(path, "a", encoding="utf-8") as fh:  # O_APPEND: whole lines from each worker
        fh.write(line)


def read_ledger(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def wait_for_tests(path: Path, expected: set[str], timeout_s: float) -> list[dict]:
    """Wait until every test in ``expected`` is in the ledger, bounded.

    Raises:
        HarnessError: some tests did not finish within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        entries = read_ledger(path)
        missing = expected - {e["test"] for e in entries}
        if not missing:
            return entries
        if time.monotonic() > deadline:
            raise HarnessError(
                f"command coverage: {len(missing)} tests did not finish within {timeout_s:.0f} s "
                f"(e.g. {sorted(missing)[0]})")
        time.sleep(0.2)


# Commands whose success a harness cannot bring about on every target. They count
# as covered only by a passing negative test, and the listing names them.
POSITIVE_UNREACHABLE = {
    0x12D: "TPM2_PP_Commands succeeds only while physical presence is asserted, which the "
           "harness cannot signal (swtpm has no such control); the negative test asserts "
           "TPM_RC_PP",
}


@dataclass
class CommandCoverage:
    """Positive and negative coverage per advertised command."""

    advertised: list[int]
    positive: dict[int, list[str]] = field(default_factory=dict)
    negative: dict[int, list[str]] = field(default_factory=dict)
    unverified: dict[int, list[str]] = field(default_factory=dict)
    skipped_positive: dict[int, list[str]] = field(default_factory=dict)
    skipped_negative: dict[int, list[str]] = field(default_factory=dict)

    @classmethod
    def from_ledger(cls, advertised: list[int], entries: list[dict]) -> "CommandCoverage":
        cov = cls(sorted(advertised))
        for entry in entries:
            if entry["outcome"] == "skipped":
                cov._note_skipped(entry)
            if entry["outcome"] != "passed":
                continue
            verified = set(entry.get("verifies", ()))
            for code, rc in entry["commands"]:
                if rc == 0 and command_name(code) in verified:
                    cov.positive.setdefault(code, []).append(entry["test"])
                elif rc == 0:
                    cov.unverified.setdefault(code, []).append(entry["test"])
                elif entry["negative"]:
                    cov.negative.setdefault(code, []).append(entry["test"])
        return cov

    def _note_skipped(self, entry: dict) -> None:
        where = self.skipped_negative if entry["negative"] else self.skipped_positive
        why = f"{entry['test']}: {entry.get('reason') or 'skipped'}"
        for name in entry.get("verifies", ()):
            try:
                code = command_code(name)
            except KeyError:
                continue
            where.setdefault(code, []).append(why)

    def _not_run(self, code: int, negative: bool) -> bool:
        covered, skipped = ((self.negative, self.skipped_negative) if negative
                            else (self.positive, self.skipped_positive))
        return code not in covered and code in skipped

    @property
    def not_run_here(self) -> dict[str, dict[str, list[str]]]:
        """Advertised commands whose every declaring test was skipped on this target."""
        out: dict[str, dict[str, list[str]]] = {}
        for code in self.advertised:
            for kind, negative in (("positive", False), ("negative", True)):
                if self._not_run(code, negative) and not (
                        not negative and self._exempt(code)):
                    skipped = self.skipped_negative if negative else self.skipped_positive
                    out.setdefault(command_name(code), {})[kind] = sorted(set(skipped[code]))
        return out

    @property
    def missing_positive(self) -> list[str]:
        return [command_name(c) for c in self.advertised
                if c not in self.positive and not self._exempt(c) and not self._not_run(c, False)]

    def _exempt(self, code: int) -> bool:
        return code in POSITIVE_UNREACHABLE and code in self.negative

    @property
    def exempt_positive(self) -> dict[str, str]:
        return {command_name(c): POSITIVE_UNREACHABLE[c] for c in self.advertised
                if c not in self.positive and self._exempt(c)}

    @property
    def missing_negative(self) -> list[str]:
        return [command_name(c) for c in self.advertised
                if c not in self.negative and not self._not_run(c, True)]

    def to_dict(self) -> dict:
        rows = []
        for code in self.advertised:
            rows.append({
                "command": command_name(code), "code": f"0x{code:08x}",
                "positive_tests": sorted(set(self.positive.get(code, []))),
                "negative_tests": sorted(set(self.negative.get(code, []))),
                "unverified_successes": sorted(set(self.unverified.get(code, []))),
            })
        total = len(self.advertised) or 1
        pos = sum(1 for c in self.advertised if c in self.positive or self._exempt(c))
        neg = sum(1 for c in self.advertised if c in self.negative)
        not_run = self.not_run_here
        return {
            "advertised": len(self.advertised),
            "positive_covered": pos,
            "negative_covered": neg,
            "positive_not_run_here": sum(1 for v in not_run.values() if "positive" in v),
            "negative_not_run_here": sum(1 for v in not_run.values() if "negative" in v),
            "positive_percent": round(100 * pos / total, 1),
            "negative_percent": round(100 * neg / total, 1),
            "missing_positive": self.missing_positive,
            "missing_negative": self.missing_negative,
            "positive_unreachable": self.exempt_positive,
            "not_run_here": self.not_run_here,
            "commands": rows,
        }
