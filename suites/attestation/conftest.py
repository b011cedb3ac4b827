"""The boot log the attestation suite judges, and how it is obtained.

* ``TPMHIL_EVENTLOG=FILE``: the board's own log (on Linux
  ``/sys/kernel/security/tpm0/binary_bios_measurements``), with
  ``TPMHIL_GOLDEN=FILE`` for the board type's golden measurements and
  ``TPMHIL_EK_CA=CA1.pem:CA2.pem`` for the EK certificate's issuers.
* a ``device://`` target without ``TPMHIL_EVENTLOG``: the kernel's log.
* a disposable target (spawned swtpm, virtual bus chips): the synthetic boot
  is extended into the TPM once per session (power-cycling it first when its
  PCRs 0-7 are already measured) and judged against ``golden/synthetic-uefi.yaml``,
  golden values written down from the boot's description, not produced by the
  code that synthesises the log (so a synthesis or replay bug fails here). A simulator
  started by hand (swtpm://, mssim://) gets the synthetic boot only when
  ``--allow-destructive`` names it (extending PCRs outlives the run) and while its
  PCRs 0-7 are unmeasured; otherwise the suite is skipped, saying why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.attest import synth
from harness.attest.enroll import load_ca_certificates
from harness.attest.eventlog import EventLog, encode_eventlog, read_eventlog
from harness.attest.golden import Golden, load_golden, restricted_to
from harness.errors import HarnessError
from harness.transports.tcti import open_esapi
from suites.attestation.gating import may_extend

KERNEL_LOG = Path("/sys/kernel/security/tpm0/binary_bios_measurements")
SYNTHETIC_GOLDEN = Path(__file__).parent / "golden" / "synthetic-uefi.yaml"


@dataclass
class BootUnderTest:
    log: EventLog
    path: Path
    golden: Golden | None
    ca_certs: list
    origin: str


def _synthesize(tpm_raw, out: Path, may_reset: bool) -> EventLog:
    esapi = open_esapi(tpm_raw)
    try:
        try:
            log = synth.synthesize(esapi)
        except HarnessError as exc:
            if "reset value" not in str(exc):
                raise
            if not may_reset:
                pytest.skip(f"{exc} Set TPMHIL_EVENTLOG=FILE to judge the log of that boot.")
            synth.restart(esapi, tpm_raw)  # disposable target: start from a clean boot
            log = synth.synthesize(esapi)
    finally:
        esapi.close()
    out.write_bytes(encode_eventlog(log))
    return read_eventlog(out)


@pytest.fixture(scope="session")
def boot_under_test(tpm_target, tpm_raw, tmp_path_factory, pytestconfig) -> BootUnderTest:
    env_log = os.environ.get("TPMHIL_EVENTLOG")
    env_golden = os.environ.get("TPMHIL_GOLDEN")
    ca_files = [p for p in os.environ.get("TPMHIL_EK_CA", "").split(os.pathsep) if p]
    if not ca_files and tpm_target.disposable:
        from harness.swtpm_process import ca_root_certificates

        ca_files = [str(p) for p in ca_root_certificates()]
    cas = load_ca_certificates(ca_files)
    golden = load_golden(env_golden) if env_golden else None
    if env_log:
        path = Path(env_log)
        return BootUnderTest(read_eventlog(path), path, golden, cas, "TPMHIL_EVENTLOG")
    if tpm_target.uri.scheme == "device":
        if not KERNEL_LOG.exists():
            pytest.fail(f"{KERNEL_LOG} does not exist (securityfs not mounted, or firmware "
                        "without a TCG2 log); set TPMHIL_EVENTLOG=FILE")
        return BootUnderTest(read_eventlog(KERNEL_LOG), KERNEL_LOG, golden, cas, "kernel")
    simulator = tpm_target.uri.scheme in ("swtpm", "mssim")
    if not (tpm_target.disposable or simulator):
        pytest.skip("no event log for this target: set TPMHIL_EVENTLOG=FILE (the synthetic "
                    "boot is only extended into disposable TPMs and simulators)")
    if not may_extend(pytestconfig, tpm_target):
        pytest.skip(f"no event log for {tpm_target.uri.text}: set TPMHIL_EVENTLOG=FILE, or "
                    f"--allow-destructive '{tpm_target.uri.text}' to extend the synthetic boot "
                    "into its PCRs 0-7 (the extends outlive the run)")
    path = tmp_path_factory.mktemp("attestation") / "synthetic-boot.log"
    log = _synthesize(tpm_raw, path, may_reset=tpm_target.disposable)
    golden = golden or restricted_to(load_golden(SYNTHETIC_GOLDEN), log.banks)
    return BootUnderTest(log, path, golden, cas, "synthetic")
