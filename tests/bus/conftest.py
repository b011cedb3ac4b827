"""Shared helpers for the bus tests: one private swtpm behind virtual chips."""

from __future__ import annotations

import struct

import pytest

from harness.buses.virtual import VirtualI2cBus, VirtualSpiBus
from harness.chip_profile import load_profile
from harness.chips.backend import SwtpmBackend
from harness.chips.faults import FaultPlan
from harness.chips.models import chip_profile, make_chip
from harness.swtpm_process import SwtpmOptions
from harness.tis.i2c_phy import I2cTisPhy
from harness.tis.spi_phy import SpiTisPhy
from harness.tis.transport import TisTransport

# TPM2_GetRandom(16), TPM2_PCR_Read(sha256: PCR 0-7), TPM2_Startup(CLEAR)
GET_RANDOM_16 = bytes.fromhex("80010000000c0000017b0010")
PCR_READ = bytes.fromhex("8001000000140000017e00000001000b03ff0000")
STARTUP_CLEAR = bytes.fromhex("80010000000c000001440000")


def rc_of(response: bytes) -> int:
    return struct.unpack_from(">I", response, 6)[0]


@pytest.fixture(scope="session")
def backend():
    b = SwtpmBackend(SwtpmOptions(banks=("sha256",), ek_certs=False))
    yield b
    b.close()


class Sim:
    """A virtual chip on a virtual bus and the host transport talking to it."""

    def __init__(self, backend, bus: str, chip: str = "st33ktpm", address: int | None = None,
                 guard_us: int = 0, bus_wrapper=None, checksum: bool = True,
                 verify_reads: bool = False) -> None:
        profile = chip_profile(chip, bus)
        self.faults = FaultPlan(seed=1)
        self.chip = make_chip(bus, profile, backend, self.faults, guard_us=guard_us)
        if bus == "spi":
            wire = VirtualSpiBus(self.chip, "spi+sim")
            wire = bus_wrapper(wire) if bus_wrapper else wire
            phy = SpiTisPhy(wire)
        else:
            wire = VirtualI2cBus(self.chip, "i2c+sim")
            wire = bus_wrapper(wire) if bus_wrapper else wire
            phy = I2cTisPhy(wire, address if address is not None else self.chip.address,
                            checksum=checksum)
        self.wire = wire
        self.transport = TisTransport(phy, profile.timeouts, expect_vid=int(profile.tis["vid"]),
                                      power_cycle=self.chip.reset, verify_reads=verify_reads,
                                      durations=load_profile("swtpm").durations,
                                      name=f"{bus}+sim://{chip}")
        self.backend = backend

    def last(self):
        return self.transport.log.peek()[-1]

    def close(self) -> None:
        self.transport.close()


@pytest.fixture
def make_sim(backend):
    made: list[Sim] = []

    def factory(bus: str, chip: str = "st33ktpm", **kw) -> Sim:
        sim = Sim(backend, bus, chip, **kw)
        made.append(sim)
        return sim

    yield factory
    for sim in made:
        sim.close()
