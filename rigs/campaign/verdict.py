"""A campaign's verdict, and whose fault each test failure is.

At a stressed point (beyond the rated range, or around a brown-out or power
cycle) a chip may fail safe: that is recorded, not a FAIL. A wrong answer
(the EFP/EFT known-answer check) or a test failure at a nominal point is a
FAIL. A test that broke because of the harness itself (a fixture that could
not set up, ``identity`` being None, a TypeError in test code) says nothing
about the chip: it is a *harness error*, never counted as a chip failure, and
it makes the campaign INCOMPLETE (exit 2) when it hit a nominal point (the
evidence that matters is missing) unless a real FAIL was found; at a stressed
point it is reported, and the EFP/EFT check stays that point's verdict.
"""

from __future__ import annotations

import re

import pandas as pd

#: Exception types that mean the test or harness code broke, not the chip.
HARNESS_EXCEPTIONS = frozenset({
    "AttributeError", "TypeError", "NameError", "UnboundLocalError", "KeyError", "IndexError",
    "ImportError", "ModuleNotFoundError", "NotImplementedError", "RecursionError",
    "ZeroDivisionError", "SyntaxError", "ConfigError", "ProfileError", "TargetURIError",
})
#: Set-up/teardown errors of these types are the chip's (it did not answer, or answered an error).
CHIP_EXCEPTIONS = frozenset({
    "TSS2_Exception", "TransportError", "TpmTimeoutError", "ResponseFormatError", "BusError",
    "TpmError",
})
_EXC = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*(?:Error|Exception|Exit))\b")
#: Exit code per verdict (README: 0 pass, 1 fail, 2 could not judge).
EXIT = {"PASS": 0, "FAIL": 1, "INCOMPLETE": 2, "NO TESTS RAN": 2}


def exception_type(message: str) -> str:
    """The exception class named at the start of a recorded failure line ('' if none)."""
    match = _EXC.match((message or "").strip().removeprefix("teardown: "))
    return match.group(1) if match else ""


#: Tests the failure-mode guard did not run because the chip had stopped: the chip's doing.
_CHIP_STOPPED = ("Failed: not run:",)


def is_harness_error(outcome: str, message: str) -> bool:
    """Whether a failed/error test record is the harness's fault rather than the chip's."""
    if (message or "").strip().startswith(_CHIP_STOPPED):
        return False
    kind = exception_type(message)
    if outcome == "failed":
        return kind in HARNESS_EXCEPTIONS
    if outcome == "error":  # set-up or teardown: a fixture, unless the chip's own error
        return kind not in CHIP_EXCEPTIONS
    return False


def classify(tests: pd.DataFrame) -> pd.DataFrame:
    """``tests`` with a boolean ``harness_error`` and ``chip_failure`` column."""
    bad = tests.outcome.isin(["failed", "error"])
    harness = pd.Series([bad.iloc[i] and is_harness_error(o, m) for i, (o, m) in
                         enumerate(zip(tests.outcome, tests.message))], index=tests.index, dtype=bool)
    return tests.assign(harness_error=harness, chip_failure=bad & ~harness)


def campaign_verdict(efp_failures: int, nominal_chip_failures: int, harness_errors: int,
                     tests: int) -> str:
    """PASS, FAIL, INCOMPLETE (harness errors at nominal points) or NO TESTS RAN.

    Args:
        harness_errors: harness errors at *nominal* points (stressed ones do not count here).
    """
    if efp_failures or nominal_chip_failures:
        return "FAIL"
    if harness_errors:
        return "INCOMPLETE"
    return "PASS" if tests else "NO TESTS RAN"
