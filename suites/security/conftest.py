"""Fixtures of the security suite.

Environment (the suites share pytest's options with every area, so the
audit's own settings come from the environment):
    TPMHIL_AUDIT_SAMPLES   most signatures per EC scheme for the timing test
                           (default harness.audit.nonce_timing.DEFAULT_SAMPLES; the
                           power analysis usually asks for fewer)
    TPMHIL_AUDIT_BUDGET_S  wall-time budget of the timing check, all schemes
                           together (default 120 s)
    TPMHIL_ADVISORIES      a lab's advisory files, separated by ':'
    TPMHIL_EK_ROOTS        folder of vendor EK roots (swtpm's local CA is added
                           for a spawned swtpm)
"""

from __future__ import annotations

import os

import pytest

from harness.audit import nonce_timing
from harness.audit.catalogue import load_catalogues
from harness.audit.ekcert import load_trust_roots


@pytest.fixture(scope="session")
def advisory_catalogue():
    extra = [p for p in os.environ.get("TPMHIL_ADVISORIES", "").split(os.pathsep) if p]
    return load_catalogues(extra)


@pytest.fixture(scope="session")
def audit_samples() -> int:
    raw = os.environ.get("TPMHIL_AUDIT_SAMPLES", str(nonce_timing.DEFAULT_SAMPLES))
    try:
        n = int(raw)
    except ValueError:
        raise pytest.UsageError(f"TPMHIL_AUDIT_SAMPLES={raw!r}: expected a whole number") from None
    if n < 100:
        raise pytest.UsageError(f"TPMHIL_AUDIT_SAMPLES={n}: at least 100 signatures are needed")
    return n


@pytest.fixture(scope="session")
def audit_budget_s() -> float:
    raw = os.environ.get("TPMHIL_AUDIT_BUDGET_S", str(nonce_timing.DEFAULT_SUITE_BUDGET_S))
    try:
        value = float(raw)
    except ValueError:
        raise pytest.UsageError(f"TPMHIL_AUDIT_BUDGET_S={raw!r}: expected a number of seconds") from None
    if not value > 0:
        raise pytest.UsageError(f"TPMHIL_AUDIT_BUDGET_S={raw!r}: expected a positive number of seconds")
    return value


@pytest.fixture
def progress(request):
    """Progress lines of a long check, on the terminal even while output is captured."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def line(text: str) -> None:
        if reporter is None:
            return
        if capture is None:
            reporter.write_line(f"    {text}")
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"    {text}")
    return line


@pytest.fixture
def security_evidence(results):
    """Write a check's figures to ``evidence/security/<check>.json`` of the results folder."""
    def write(outcome):
        return outcome.write_evidence(results.path if results is not None else None)
    return write


@pytest.fixture(scope="session")
def ek_roots(tpm_target):
    paths = [os.environ["TPMHIL_EK_ROOTS"]] if os.environ.get("TPMHIL_EK_ROOTS") else []
    from harness.ek import harness_ca_trusted

    if harness_ca_trusted(tpm_target):
        from harness.swtpm_process import ca_root_certificates

        paths.extend(str(p) for p in ca_root_certificates())
    return load_trust_roots(paths)


@pytest.fixture
def evidence_dir(results, tmp_path):
    """Where plots go: the results folder's evidence/ when writing one."""
    return results.evidence_dir if results is not None else tmp_path
