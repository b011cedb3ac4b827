"""The FIFO command flow over virtual SPI and I2C chips backed by swtpm:
the exact transaction sequence, the protocol minimum, IDs, localities."""

from __future__ import annotations

import pytest

from harness.buses.i2c import I2cBus
from harness.buses.spi import SpiBus
from harness.errors import TargetURIError
from harness.targets.registry import open_target
from harness.tis import registers as R
from harness.tis.cost import minimum_cost

# TPM2_GetRandom(16), TPM2_PCR_Read(sha256: PCR 0-7)
GET_RANDOM_16 = bytes.fromhex("80010000000c0000017b0010")
PCR_READ = bytes.fromhex("8001000000140000017e00000001000b03ff0000")


def rc_of(response: bytes) -> int:
    return int.from_bytes(response[6:10], "big")


class RecordingSpi(SpiBus):
    """Passes transfers through and records each transaction's header."""

    def __init__(self, inner: SpiBus) -> None:
        self.inner, self.name, self.headers, self._start = inner, inner.name, [], True

    def transfer(self, out: bytes, *, end: bool = True) -> bytes:
        if self._start and len(out) == 4:
            self.headers.append(bytes(out))
        self._start = end
        return self.inner.transfer(out, end=end)


class RecordingI2c(I2cBus):
    def __init__(self, inner: I2cBus) -> None:
        self.inner, self.name, self.log = inner, inner.name, []

    def write(self, addr: int, data: bytes) -> None:
        self.log.append(("w", bytes(data[:2]) if data[0] == R.TPM_I2C_STS else bytes(data[:1])))
        self.inner.write(addr, data)

    def read(self, addr: int, n: int) -> bytes:
        self.log.append(("r", n))
        return self.inner.read(addr, n)


def test_spi_command_flow_is_the_ptp_sequence(make_sim):
    sim = make_sim("spi", bus_wrapper=RecordingSpi)
    sim.transport.exchange(GET_RANDOM_16)  # leaves the chip in Ready
    sim.wire.headers.clear()
    response = sim.transport.exchange(GET_RANDOM_16)
    assert rc_of(response) == 0 and len(response) == 28
    assert [h.hex() for h in sim.wire.headers] == [
        "83d40018",   # TPM_STS: commandReady, burstCount
        "0bd40024",   # TPM_DATA_FIFO write, 12 bytes
        "83d40018",   # TPM_STS: Expect clear
        "00d40018",   # TPM_STS = tpmGo
        "83d40018",   # TPM_STS: dataAvail
        "9bd40024",   # TPM_DATA_FIFO read, 28 bytes (burstCount 32)
        "83d40018",   # TPM_STS: dataAvail clear
        "00d40018",   # TPM_STS = commandReady
    ]
    record = sim.last()
    assert record.bus_transactions == minimum_cost("spi", 12, 28, 32).transactions == 8
    assert record.bus_bytes == minimum_cost("spi", 12, 28, 32).bytes
    assert record.retries == 0


def test_i2c_command_flow_with_checksums(make_sim):
    sim = make_sim("i2c", chip="slb9673", bus_wrapper=RecordingI2c)
    sim.transport.exchange(GET_RANDOM_16)
    sim.wire.log.clear()
    response = sim.transport.exchange(GET_RANDOM_16)
    assert rc_of(response) == 0
    assert sim.wire.log == [
        ("w", b"\x18"), ("r", 4),               # TPM_STS
        ("w", b"\x24"),                         # TPM_DATA_FIFO <- command
        ("w", b"\x18"), ("r", 4),               # TPM_STS: Expect clear
        ("w", b"\x44"), ("r", 2),               # TPM_DATA_CSUM of the command
        ("w", b"\x18\x20"),                     # TPM_STS = tpmGo
        ("w", b"\x18"), ("r", 4),               # dataAvail
        ("w", b"\x24"), ("r", 28),              # TPM_DATA_FIFO -> response
        ("w", b"\x18"), ("r", 4),               # dataAvail clear
        ("w", b"\x44"), ("r", 2),               # TPM_DATA_CSUM of the response
        ("w", b"\x18\x40"),                     # TPM_STS = commandReady
    ]
    assert sim.last().bus_transactions == minimum_cost("i2c", 12, 28, 32, checksum=True).transactions


def test_long_response_is_read_in_burstcount_chunks(make_sim):
    sim = make_sim("spi")
    sim.transport.exchange(PCR_READ)  # the first command also moves the chip from Idle to Ready
    response = sim.transport.exchange(PCR_READ)
    assert rc_of(response) == 0 and len(response) > 64
    record = sim.last()
    assert record.bus_transactions == minimum_cost("spi", len(PCR_READ), len(response), 32).transactions


def test_responses_equal_the_direct_swtpm_path(make_sim, backend):
    for bus, chip in (("spi", "st33ktpm"), ("i2c", "slb9673"), ("i2c", "st33ktpm")):
        sim = make_sim(bus, chip=chip)
        assert sim.transport.exchange(PCR_READ) == backend.execute(PCR_READ, 0)


def test_chip_ids_come_from_the_profile(make_sim):
    assert make_sim("spi").transport.info["vid"] == "0x104a"
    slb = make_sim("i2c", chip="slb9673").transport.info
    assert (slb["vid"], slb["did"], slb["rid"]) == ("0x15d1", "0x001c", "0x16")
    assert slb["checksum"] is True


def test_locality_switch_uses_that_locality_page(make_sim):
    sim = make_sim("spi", bus_wrapper=RecordingSpi)
    sim.transport.set_locality(3)
    assert sim.chip.active == 3
    sim.wire.headers.clear()
    assert rc_of(sim.transport.exchange(GET_RANDOM_16)) == 0
    assert all(h[1:3] == b"\xd4\x30" for h in sim.wire.headers)
    assert sim.last().locality == 3
    sim.transport.set_locality(0)
    assert sim.chip.active == 0


def test_i2c_guard_time_declared_by_the_chip_is_honoured(make_sim):
    sim = make_sim("i2c", chip="slb9673", guard_us=200)
    assert sim.transport.info["guard_time_us"] == 200
    for _ in range(3):
        assert rc_of(sim.transport.exchange(GET_RANDOM_16)) == 0
    assert sim.chip.guard_violations == 0
    assert sim.last().retries == 0


def test_wrong_i2c_address_is_a_clear_error(make_sim):
    with pytest.raises(Exception) as info:
        make_sim("i2c", chip="slb9673", address=0x2F)
    assert "0x2f" in str(info.value) and "not acknowledged" in str(info.value)


@pytest.mark.parametrize("text,message", [
    ("spi+sim://slb9673", "no SPI variant"),
    ("i2c+sim://nochip", "unknown virtual chip"),
    ("spi+sim://st33ktpm?faults=bogus:1", "bogus:1"),
    ("spi+sim://st33ktpm?faults=nack:lots", "not a valid value"),
    ("i2c:///dev/i2c-1?addr=0x99", "not a 7-bit I2C device address"),
    ("spi://spidev0.0", "expected a device path"),
])
def test_bad_target_strings_name_the_problem(text, message):
    with pytest.raises(TargetURIError, match=message):
        open_target(text)


def test_missing_bus_device_names_the_device():
    target = open_target("spi:///dev/spidev9.7")
    with pytest.raises(Exception, match=r"/dev/spidev9\.7: no such SPI device"):
        target.open()
    target = open_target("i2c:///dev/i2c-97")
    with pytest.raises(Exception, match=r"/dev/i2c-97: no such I2C device"):
        target.open()


def test_ftdi_target_string_parses_the_adapter_url():
    target = open_target("spi+ftdi://ftdi:232h/1?hz=1000000")
    assert target.device == "ftdi:232h/1" and target.hz == 1_000_000
