"""Startup/Shutdown and the clock (TPM 2.0 Part 3 §9.3, §9.4, §29; Part 1 §36):
TPM Reset vs TPM Restart/Resume semantics of PCRs, resetCount/restartCount,
clock monotonic, the safe flag after orderly and disorderly shutdowns.

Power cycles use the ``power_cycle`` fixture (``tpm_raw.power_cycle()``); each test leaves the TPM started
(the plugin's cleanup sends TPM2_Startup(CLEAR) if a test could not).

Board safety: ClockSet moves Clock forward for good and ClockRateAdjust changes the
rate until the next TPM Reset, so the tests that succeed with them are ``destructive``;
the refusals change nothing and run everywhere."""

import struct
import time

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_CLOCK, TPM2_SU
from tpm2_pytss.types import TPML_PCR_SELECTION

from harness.tpm import properties as PT

pytestmark = [pytest.mark.conformance]
REQ = ("IEC62443-4-2:CR 7.4", "IEC62443-4-2:CR 3.4")
verifies = pytest.mark.verifies
OWNER = pytest.mark.needs("hierarchy:owner")
NV_CLOCK_UPDATE_DEFAULT_MS = 1 << 22  # the reference implementation's interval
RATE_STEPS = 10  # libtpms: about 1 % per coarse step (capped in total)
RATE_WINDOW_S = 1.0


def _pcr8(tpm) -> bytes:
    """PCR 8 is saved by Shutdown(STATE) (PC Client: PCRs 0-15); the tests using it are
    destructive and end in a power cycle anyway."""
    _, _, values = tpm.pcr_read(TPML_PCR_SELECTION.parse("sha256:8"))
    return bytes(values[0])


def _make_clock_safe(tpm, caps, chip) -> bool:
    """Try to make the safe flag YES: a ClockSet past the NV update interval
    (TPM_PT_CLOCK_UPDATE) makes the reference code write Clock to NV, after which safe
    is YES (Part 1 §36.5). When the TPM writes Clock to NV is the vendor's choice, so
    only a chip whose profile names ``clock_set_writes_nv`` is held to it; returns
    whether safe may be asserted afterwards."""
    interval = caps.prop(PT.CLOCK_UPDATE) or NV_CLOCK_UPDATE_DEFAULT_MS
    clock = tpm.read_clock().clockInfo.clock
    tpm.clock_set(clock + interval + 1000, ESYS_TR.OWNER)
    if "clock_set_writes_nv" not in chip.reference_behaviours:
        return False
    assert tpm.read_clock().clockInfo.safe == 1, "safe is NO after Clock was written to NV"
    return True


@pytest.mark.destructive
@OWNER
@pytest.mark.needs("bank:sha256")
@verifies("Shutdown", "Startup")
@pytest.mark.spec("TPM 2.0 Part 3 §9.4 Shutdown(STATE) + §9.3 Startup(STATE): TPM Resume keeps "
                  "PCRs and resetCount, increments restartCount; safe after orderly shutdown")
@pytest.mark.requirement(*REQ)
def test_resume_keeps_pcrs_and_counts_restart(tpm, caps, chip, power_cycle):
    safe = _make_clock_safe(tpm, caps, chip)
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
    assert after.clockInfo.safe == 1 or not safe


@pytest.mark.destructive
@OWNER
@pytest.mark.needs("bank:sha256")
@verifies("Shutdown", "Startup")
@pytest.mark.spec("TPM 2.0 Part 3 §9.3 Startup(CLEAR): TPM Reset clears PCRs, increments "
                  "resetCount, zeroes restartCount")
@pytest.mark.requirement(*REQ)
def test_reset_clears_pcrs_and_counts_reset(tpm, caps, chip, power_cycle):
    safe = _make_clock_safe(tpm, caps, chip)
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
    assert after.clockInfo.safe == 1 or not safe


@pytest.mark.destructive
@pytest.mark.negative
@OWNER
@verifies("Startup")
@pytest.mark.spec("TPM 2.0 Part 3 §9.3 Startup(STATE) without a Shutdown(STATE) is "
                  "TPM_RC_VALUE; Part 1 §36.5 safe is NO after a disorderly shutdown")
@pytest.mark.requirement(*REQ)
def test_disorderly_shutdown(tpm, caps, chip, power_cycle, expect_rc):
    tpm.clock_set(tpm.read_clock().clockInfo.clock + 10_000, ESYS_TR.OWNER)
    power_cycle()  # no TPM2_Shutdown
    with expect_rc(0x084 + 0x140):  # TPM_RC_VALUE (parameter 1)
        tpm.startup(TPM2_SU.STATE)
    tpm.startup(TPM2_SU.CLEAR)
    assert tpm.read_clock().clockInfo.safe == 0
    _make_clock_safe(tpm, caps, chip)  # and, where the chip does so, ClockSet makes it safe


@pytest.mark.negative
@verifies("Shutdown")
@pytest.mark.spec("TPM 2.0 Part 3 §9.4 TPM2_Shutdown with an undefined type is TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
def test_shutdown_bad_type(raw):
    rc, _ = raw(0x145, struct.pack(">H", 0x0005))
    assert rc == 0x084 + 0x140, hex(rc)  # TPM_RC_VALUE (parameter 1)


@verifies("ReadClock")
@pytest.mark.spec("TPM 2.0 Part 3 §29.2 ReadClock: Clock and Time advance with the host's "
                  "clock (within 15 %, Part 1 §36.3) and never go back")
@pytest.mark.requirement("IEC62443-4-2:CR 2.11", *REQ)
def test_clock_monotonic(tpm):
    samples = [(time.monotonic(), tpm.read_clock()) for _ in range(5)]
    clocks = [s.clockInfo.clock for _, s in samples]
    times = [s.time for _, s in samples]
    assert clocks == sorted(clocks) and times == sorted(times)
    host0, first = time.monotonic(), tpm.read_clock()
    time.sleep(0.5)
    last, host1 = tpm.read_clock(), time.monotonic()
    advanced, host_ms = last.time - first.time, (host1 - host0) * 1000
    assert advanced > 0, "Time did not advance in 0.5 s"
    assert advanced <= host_ms * 1.15 + 50, f"Time advanced {advanced} ms in {host_ms:.0f} ms"


@pytest.mark.destructive
@OWNER
@verifies("ClockSet")
@pytest.mark.spec("TPM 2.0 Part 3 §29.3 ClockSet forward (Clock never goes back, so this "
                  "move is permanent)")
@pytest.mark.requirement("IEC62443-4-2:CR 2.11", *REQ)
def test_clock_set_forward(tpm):
    target = tpm.read_clock().clockInfo.clock + 3_600_000
    tpm.clock_set(target, ESYS_TR.OWNER)
    after = tpm.read_clock().clockInfo.clock
    assert target <= after < target + 60_000, f"Clock {after} after ClockSet({target})"


@pytest.mark.negative
@OWNER
@verifies("ClockSet")
@pytest.mark.spec("TPM 2.0 Part 3 §29.3 TPM2_ClockSet backwards is TPM_RC_VALUE")
@pytest.mark.requirement("IEC62443-4-2:CR 2.11", *REQ)
def test_clock_set_backwards_refused(tpm, expect_rc):
    now = tpm.read_clock().clockInfo.clock
    with expect_rc(0x084 + 0x140):  # TPM_RC_VALUE (parameter 1)
        tpm.clock_set(now - 1000 if now > 1000 else 0, ESYS_TR.OWNER)
    assert tpm.read_clock().clockInfo.clock >= now


def _clock_at(tpm) -> tuple[float, int]:
    """(host time at the middle of the ReadClock round trip, Clock)."""
    before = time.monotonic()
    clock = tpm.read_clock().clockInfo.clock
    return (before + time.monotonic()) / 2, clock


def _rate(tpm) -> float:
    """Clock milliseconds per host millisecond over RATE_WINDOW_S."""
    host0, clock0 = _clock_at(tpm)
    time.sleep(RATE_WINDOW_S)
    host1, clock1 = _clock_at(tpm)
    return (clock1 - clock0) / ((host1 - host0) * 1000)


@pytest.mark.destructive
@OWNER
@verifies("ClockRateAdjust")
@pytest.mark.spec("TPM 2.0 Part 3 §29.4 TPM2_ClockRateAdjust: COARSE_SLOWER makes Clock "
                  "advance more slowly, COARSE_FASTER undoes it (the rate stays changed until "
                  "the next TPM Reset, so the test is destructive)")
@pytest.mark.requirement("IEC62443-4-2:CR 2.11", *REQ)
def test_clock_rate_adjust(tpm):
    nominal = _rate(tpm)
    for _ in range(RATE_STEPS):
        tpm.clock_rate_adjust(TPM2_CLOCK.COARSE_SLOWER, ESYS_TR.OWNER)
    try:
        slower = _rate(tpm)
    finally:
        for _ in range(RATE_STEPS):
            tpm.clock_rate_adjust(TPM2_CLOCK.COARSE_FASTER, ESYS_TR.OWNER)
    restored = _rate(tpm)
    assert slower < nominal - 0.03, f"rate {slower:.4f} after {RATE_STEPS} x COARSE_SLOWER, " \
                                    f"nominal {nominal:.4f}"
    assert restored > slower + 0.03, f"rate {restored:.4f} after COARSE_FASTER, was {slower:.4f}"


@pytest.mark.negative
@OWNER
@verifies("ClockRateAdjust")
@pytest.mark.spec("TPM 2.0 Part 3 §29.4 TPM2_ClockRateAdjust with an undefined step is "
                  "TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
def test_clock_rate_adjust_bad_value(raw_pw):
    rc, _ = raw_pw(0x130, [0x40000001], bytes([5]))
    assert rc == 0x084 + 0x140, hex(rc)
