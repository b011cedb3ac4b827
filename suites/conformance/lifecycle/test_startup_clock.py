"""Startup/Shutdown and the clock (TPM 2.0 Part 3 §9.3, §9.4, §29; Part 1 §36):
TPM Reset vs TPM Restart/Resume semantics of PCRs, resetCount/restartCount,
clock monotonic, the safe flag after orderly and disorderly shutdowns.

Power cycles use the ``power_cycle`` fixture (``tpm_raw.power_cycle()``); each test leaves the TPM started
(the plugin's cleanup sends TPM2_Startup(CLEAR) if a test could not)."""

import struct

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_CLOCK, TPM2_SU
from tpm2_pytss.types import TPML_PCR_SELECTION

pytestmark = [pytest.mark.conformance]
REQ = ("IEC62443-4-2:CR 7.4", "IEC62443-4-2:CR 3.4")


def _pcr8(tpm) -> bytes:
    _, _, values = tpm.pcr_read(TPML_PCR_SELECTION.parse("sha256:8"))
    return bytes(values[0])


NV_CLOCK_UPDATE_BITS = 22  # Part 1 §36.4: Clock reaches NV at least every 2^22 ms


def _make_clock_safe(tpm) -> None:
    """ClockSet across an NV update boundary writes Clock to NV, after which safe is
    YES (Part 1 §36.5); the reference code writes it only on such a crossing."""
    clock = tpm.read_clock().clockInfo.clock
    tpm.clock_set(((clock >> NV_CLOCK_UPDATE_BITS) + 1) << NV_CLOCK_UPDATE_BITS, ESYS_TR.OWNER)
    assert tpm.read_clock().clockInfo.safe == 1, "safe is NO after Clock was written to NV"


@pytest.mark.destructive
@pytest.mark.spec("TPM 2.0 Part 3 §9.4 Shutdown(STATE) + §9.3 Startup(STATE): TPM Resume keeps "
                  "PCRs and resetCount, increments restartCount; safe after orderly shutdown")
@pytest.mark.requirement(*REQ)
def test_resume_keeps_pcrs_and_counts_restart(tpm, power_cycle):
    _make_clock_safe(tpm)
    tpm.pcr_event(ESYS_TR.PCR8, b"resume")
    pcr = _pcr8(tpm)
    before = tpm.read_clock()
    tpm.shutdown(TPM2_SU.STATE)
    power_cycle()
    tpm.startup(TPM2_SU.STATE)
    after = tpm.read_clock()
    assert _pcr8(tpm) == pcr
    assert after.clockInfo.resetCount == before.clockInfo.resetCount
    assert after.clockInfo.restartCount == before.clockInfo.restartCount + 1
    assert after.clockInfo.clock >= before.clockInfo.clock
    assert after.clockInfo.safe == 1


@pytest.mark.destructive
@pytest.mark.spec("TPM 2.0 Part 3 §9.3 Startup(CLEAR): TPM Reset clears PCRs, increments "
                  "resetCount, zeroes restartCount")
@pytest.mark.requirement(*REQ)
def test_reset_clears_pcrs_and_counts_reset(tpm, power_cycle):
    _make_clock_safe(tpm)
    tpm.pcr_event(ESYS_TR.PCR8, b"reset")
    before = tpm.read_clock()
    tpm.shutdown(TPM2_SU.CLEAR)
    power_cycle()
    tpm.startup(TPM2_SU.CLEAR)
    after = tpm.read_clock()
    assert _pcr8(tpm) == bytes(32)
    assert after.clockInfo.resetCount == before.clockInfo.resetCount + 1
    assert after.clockInfo.restartCount == 0
    assert after.clockInfo.clock >= before.clockInfo.clock
    assert after.clockInfo.safe == 1


@pytest.mark.destructive
@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §9.3 Startup(STATE) without a Shutdown(STATE) is "
                  "TPM_RC_VALUE; Part 1 §36.5 safe is NO after a disorderly shutdown")
@pytest.mark.requirement(*REQ)
def test_disorderly_shutdown(tpm, power_cycle, expect_rc):
    tpm.clock_set(tpm.read_clock().clockInfo.clock + 10_000, ESYS_TR.OWNER)
    power_cycle()  # no TPM2_Shutdown
    with expect_rc(0x084 + 0x140):  # TPM_RC_VALUE (parameter 1)
        tpm.startup(TPM2_SU.STATE)
    tpm.startup(TPM2_SU.CLEAR)
    assert tpm.read_clock().clockInfo.safe == 0
    _make_clock_safe(tpm)  # and ClockSet makes it safe again


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §9.4 TPM2_Shutdown with an undefined type is TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
def test_shutdown_bad_type(raw):
    rc, _ = raw(0x145, struct.pack(">H", 0x0005))
    assert rc == 0x084 + 0x140, hex(rc)  # TPM_RC_VALUE (parameter 1)


@pytest.mark.spec("TPM 2.0 Part 3 §29.2 ReadClock monotonic, §29.3 ClockSet forward")
@pytest.mark.requirement("IEC62443-4-2:CR 2.11", *REQ)
def test_clock_monotonic_and_set_forward(tpm):
    samples = [tpm.read_clock() for _ in range(5)]
    clocks = [s.clockInfo.clock for s in samples]
    times = [s.time for s in samples]
    assert clocks == sorted(clocks) and times == sorted(times)
    target = clocks[-1] + 3_600_000
    tpm.clock_set(target, ESYS_TR.OWNER)
    assert tpm.read_clock().clockInfo.clock >= target


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §29.3 TPM2_ClockSet backwards is TPM_RC_VALUE")
@pytest.mark.requirement("IEC62443-4-2:CR 2.11", *REQ)
def test_clock_set_backwards_refused(tpm, expect_rc):
    now = tpm.read_clock().clockInfo.clock
    with expect_rc(0x084 + 0x140):  # TPM_RC_VALUE (parameter 1)
        tpm.clock_set(now - 1000 if now > 1000 else 0, ESYS_TR.OWNER)


@pytest.mark.spec("TPM 2.0 Part 3 §29.4 TPM2_ClockRateAdjust")
@pytest.mark.requirement("IEC62443-4-2:CR 2.11", *REQ)
def test_clock_rate_adjust(tpm):
    tpm.clock_rate_adjust(TPM2_CLOCK.MEDIUM_SLOWER, ESYS_TR.OWNER)
    tpm.clock_rate_adjust(TPM2_CLOCK.MEDIUM_FASTER, ESYS_TR.OWNER)
    first = tpm.read_clock().clockInfo.clock
    assert tpm.read_clock().clockInfo.clock >= first


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §29.4 TPM2_ClockRateAdjust with an undefined step is "
                  "TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
def test_clock_rate_adjust_bad_value(raw_pw):
    rc, _ = raw_pw(0x130, [0x40000001], bytes([5]))
    assert rc == 0x084 + 0x140, hex(rc)
