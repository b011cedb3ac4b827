"""Command coverage of a conformance run, derived from the exchange log.

Every finished conformance test yields one *ledger entry*: the TPM commands
it sent (from the exchange log rows tagged with its node id), their response
codes, its outcome and whether it is a ``negative`` test. The entry travels
on the test's teardown report (attribute :data:`REPORT_ATTR`, serialised by
pytest-xdist like any report field) to the process that runs the session -
the xdist controller, or the only process - where
:mod:`tpm_hil_fixtures.coverage_gate` collects the entries of the whole run and
computes the verdict once every test has reported: no shared file, no
waiting.

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

from dataclasses import dataclass, field

from harness.results.exchange_log import Exchange
from harness.tpm.names import command_code, command_name

#: Teardown-report attribute carrying a test's ledger entry (a JSON-able dict).
REPORT_ATTR = "tpmhil_coverage"
#: Teardown-report attribute of the gate test: the chip's advertised command codes.
ADVERTISED_ATTR = "tpmhil_coverage_advertised"


def entry(nodeid: str, outcome: str, negative: bool, rows: list[Exchange],
          verifies: tuple[str, ...] = (), reason: str = "") -> dict:
    """One finished test's ledger entry.

    ``verifies``: command names of the test's ``verifies`` markers; ``reason``:
    why it was skipped.
    """
    commands = sorted({(int(r.command_code), int(r.rc)) for r in rows if r.rc >= 0})
    return {"test": nodeid, "outcome": outcome, "negative": negative,
            "commands": [list(c) for c in commands], "verifies": list(verifies),
            "reason": reason[:300]}


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
