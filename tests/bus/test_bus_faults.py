"""Each injected fault is recovered and counted, or fails exactly one command
with a clear error within a bound; the next command works again."""

from __future__ import annotations

import threading

import pytest

from harness.errors import ConfigError, TpmTimeoutError, TransportError
from harness.tis.transport import LocalityLost

GET_RANDOM_16 = bytes.fromhex("80010000000c0000017b0010")
PCR_READ = bytes.fromhex("8001000000140000017e00000001000b03ff0000")
STARTUP_CLEAR = bytes.fromhex("80010000000c000001440000")


def rc_of(response: bytes) -> int:
    return int.from_bytes(response[6:10], "big")


def warm(sim):
    sim.transport.exchange(GET_RANDOM_16)
    return sim


def test_fixed_wait_states_cost_bytes_not_retries(make_sim):
    sim = warm(make_sim("spi"))
    sim.transport.exchange(GET_RANDOM_16)
    clean = sim.last()
    sim.faults.set(wait_states=3)
    assert rc_of(sim.transport.exchange(GET_RANDOM_16)) == 0
    slow = sim.last()
    assert slow.retries == 0
    assert slow.bus_transactions == clean.bus_transactions
    assert slow.bus_bytes == clean.bus_bytes + 3 * clean.bus_transactions


def test_wait_state_storm_is_retried_and_counted(make_sim):
    sim = warm(make_sim("spi"))
    sim.faults.set(storm_next=2, storm_length=200)   # beyond the 64 wait states tolerated
    assert rc_of(sim.transport.exchange(GET_RANDOM_16)) == 0
    assert sim.last().retries == 2
    assert sim.faults.injected["wait_storm"] == 2


def test_endless_wait_states_fail_one_command_naming_the_register(make_sim):
    sim = warm(make_sim("spi"))
    sim.faults.set(wait_states=1000)
    with pytest.raises(TpmTimeoutError, match="TPM_STS.*wait states.*timeout A"):
        sim.transport.exchange(GET_RANDOM_16)
    assert "wait states" in sim.last().error
    sim.faults.clear()
    assert rc_of(sim.transport.exchange(GET_RANDOM_16)) == 0


def test_nack_burst_is_retried_and_counted(make_sim):
    sim = warm(make_sim("i2c", chip="slb9673"))
    sim.faults.set(nack_next=3)
    assert rc_of(sim.transport.exchange(GET_RANDOM_16)) == 0
    assert sim.last().retries == 3


def test_random_nacks_from_another_thread_are_absorbed(make_sim):
    sim = warm(make_sim("i2c", chip="st33ktpm"))
    t = threading.Thread(target=sim.faults.set, kwargs={"nack_rate": 0.05, "nack_burst": 2, "seed": 3})
    t.start()
    t.join()
    for _ in range(20):
        assert rc_of(sim.transport.exchange(GET_RANDOM_16)) == 0
    records = sim.transport.log.peek()[-20:]
    assert sum(r.retries for r in records) == sim.faults.injected["nack"] > 0


@pytest.mark.parametrize("bus,chip", [("i2c", "slb9673"), ("spi", "st33ktpm")])
def test_corrupted_response_byte_is_read_again(make_sim, backend, bus, chip):
    sim = warm(make_sim(bus, chip=chip))
    sim.faults.set(corrupt_next=1)
    response = sim.transport.exchange(PCR_READ)
    assert sim.faults.injected["corrupt"] == 1
    assert sim.last().retries == 1
    assert response == backend.execute(PCR_READ, 0)   # the good copy, not the corrupted one


def test_response_corrupted_on_every_read_fails_that_command(make_sim):
    sim = warm(make_sim("i2c", chip="slb9673"))
    sim.faults.set(corrupt_rate=1.0)
    with pytest.raises(TransportError, match="still corrupted after 3 responseRetry"):
        sim.transport.exchange(GET_RANDOM_16)
    assert sim.last().retries == 3 and sim.last().rc == -1
    sim.faults.clear()
    assert rc_of(sim.transport.exchange(GET_RANDOM_16)) == 0


@pytest.mark.parametrize("bus,chip", [("spi", "st33ktpm"), ("i2c", "slb9673")])
def test_reset_mid_command_fails_one_command_then_startup_works(make_sim, bus, chip):
    sim = warm(make_sim(bus, chip=chip))
    sim.faults.set(reset_next_command=True)
    with pytest.raises(LocalityLost, match="no longer active.*reset"):
        sim.transport.exchange(GET_RANDOM_16)
    assert sim.chip.resets == 1
    # The TPM was power cycled: it wants TPM2_Startup, which the next exchange carries.
    assert rc_of(sim.transport.exchange(STARTUP_CLEAR)) == 0
    assert rc_of(sim.transport.exchange(GET_RANDOM_16)) == 0


@pytest.mark.parametrize("bus,chip,error", [
    ("spi", "st33ktpm", "TPM_STS never showed stsValid.*0xffffffff"),
    ("i2c", "slb9673", "TPM_STS never showed stsValid.*no valid read"),
])
def test_chip_that_stops_answering_fails_within_the_bound(make_sim, bus, chip, error):
    sim = warm(make_sim(bus, chip=chip))
    sim.faults.set(dead=True)
    with pytest.raises(TpmTimeoutError, match=error):
        sim.transport.exchange(GET_RANDOM_16)
    assert sim.last().duration_s < 5.0
    sim.faults.clear()
    assert rc_of(sim.transport.exchange(GET_RANDOM_16)) == 0


def test_slower_execution_is_polled_until_dataavail(make_sim):
    sim = warm(make_sim("spi"))
    sim.transport.exchange(GET_RANDOM_16)
    clean = sim.last().bus_transactions
    sim.faults.set(exec_delay_s=0.05)
    assert rc_of(sim.transport.exchange(GET_RANDOM_16)) == 0
    assert sim.last().duration_s >= 0.05
    assert sim.last().bus_transactions > clean


def test_execution_beyond_the_bound_fails_then_fresh_commandready_recovers(make_sim):
    sim = warm(make_sim("i2c", chip="slb9673"))
    sim.faults.set(exec_delay_s=30.0)
    sim.transport.transmit(GET_RANDOM_16)
    with pytest.raises(TpmTimeoutError, match="dataAvail.*last TPM_STS"):
        sim.transport.receive(timeout_s=0.2)
    sim.faults.set(exec_delay_s=0.0)
    assert rc_of(sim.transport.exchange(GET_RANDOM_16)) == 0


def test_power_cycle_through_the_transport_resets_the_chip(make_sim):
    sim = warm(make_sim("spi"))
    sim.transport.power_cycle()
    assert sim.chip.resets == 1
    assert rc_of(sim.transport.exchange(STARTUP_CLEAR)) == 0


def test_fault_plan_rejects_unknown_names():
    from harness.chips.faults import FaultPlan, parse_faults

    with pytest.raises(ConfigError, match="unknown fault 'nak_rate'"):
        FaultPlan().set(nak_rate=0.1)
    plan = parse_faults("waits:2,storm:0.01,nack:0.1,corrupt:0.001,delay_ms:5,seed:7")
    assert (plan.wait_states, plan.storm_rate, plan.nack_rate, plan.exec_delay_s, plan.seed) == (
        2, 0.01, 0.1, 0.005, 7)


def test_locality_never_granted_names_tpm_access(make_sim):
    from harness.tis.spi_phy import SpiTisPhy
    from harness.tis.transport import TisTransport

    holder = make_sim("spi")
    holder.transport.set_locality(2)          # another host keeps locality 2 active
    with pytest.raises(TpmTimeoutError, match=r"TPM_ACCESS of locality 0 never showed "
                                              r"activeLocality within timeout A \(750 ms\); "
                                              r"last TPM_ACCESS=0x81"):
        TisTransport(SpiTisPhy(holder.wire), holder.transport.timeouts, name="second host")
    # the holder sees the pending request on its own locality
    assert holder.transport.phy.read(0x0000, 1)[0] & 0x04


def test_spi_body_corruption_passes_unseen_without_verify(make_sim, backend):
    """The limit SPI has: no checksum, so a flipped body byte reaches the caller."""
    sim = warm(make_sim("spi"))
    good = backend.execute(PCR_READ, 0)
    sim.faults.set(corrupt_body=True, corrupt_next=1, seed=5)
    response = sim.transport.exchange(PCR_READ)
    assert sim.faults.injected["corrupt"] == 1
    # seed 5 puts the flip past the tag/size header: nothing on SPI can notice it
    assert len(response) == len(good) and sim.last().retries == 0
    assert sum(a != b for a, b in zip(response, good)) == 1


def test_spi_verify_reads_catches_body_corruption(make_sim, backend):
    sim = warm(make_sim("spi", verify_reads=True))
    good = backend.execute(PCR_READ, 0)
    for seed in range(5):
        sim.faults.set(corrupt_body=True, corrupt_next=1, seed=seed)
        assert sim.transport.exchange(PCR_READ) == good
        assert sim.last().retries >= 1
    assert sim.faults.injected["corrupt"] == 5
    sim.faults.set(corrupt_rate=1.0)
    with pytest.raises(TransportError, match="no two of 5 reads of the response agreed|still corrupted"):
        sim.transport.exchange(PCR_READ)
