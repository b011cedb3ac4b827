"""A nonce-timing PASS whose detectable effect is above the floor explains itself."""

from __future__ import annotations

from harness.audit.checks import _timing_summary
from harness.audit.nonce_timing import LeakageResult


def test_no_leak_line_states_the_stopping_rule_not_a_contradiction():
    res = LeakageResult("ecdsa", 800, "no leak", 0.12, 0.4, 0.01, 2.0, 400, 50, {}, 0.1,
                        resolvable_us_per_bit=3.95, upper_us_per_bit=1.4, planned_samples=800)
    line = _timing_summary(res)
    assert line.startswith("no leak: upper bound 1.40 µs/bit < floor 2 µs/bit")
    assert "stopping rule" in line
    assert "resolves >= 3.95" not in line   # read as "cannot see 2 µs/bit" next to PASS
    assert "detectable at the planned power >= 3.95" in line
