"""Wire bytes of each transaction type, pinned against the TCG PC Client PTP spec."""

from __future__ import annotations

import pytest

from harness.buses.i2c import I2cBus
from harness.buses.spi import SpiBus
from harness.tis import registers as R
from harness.tis.i2c_phy import I2cTisPhy
from harness.tis.spi_phy import SpiTisPhy


class ScriptedSpi(SpiBus):
    """Records MOSI per transfer; MISO: ``waits`` wait states, then ready, then 0xA5s."""

    def __init__(self, waits: int = 0) -> None:
        self.name, self.log, self.waits, self._left, self._in_header = "scripted", [], waits, 0, True

    def transfer(self, out: bytes, *, end: bool = True) -> bytes:
        self.log.append((bytes(out), end))
        if len(out) == 4 and self._in_header:
            self._left = self.waits
            self._in_header = False
            return b"\x00\x00\x00" + (b"\x00" if self._left else b"\x01")
        if len(out) == 1 and self._left:
            self._left -= 1
            miso = b"\x00" if self._left else b"\x01"
        else:
            miso = b"\xa5" * len(out)
        if end:
            self._in_header = True
        return miso


class ScriptedI2c(I2cBus):
    def __init__(self) -> None:
        self.name, self.log = "scripted", []

    def write(self, addr: int, data: bytes) -> None:
        self.log.append(("w", addr, bytes(data)))

    def read(self, addr: int, n: int) -> bytes:
        self.log.append(("r", addr, n))
        return b"\x5a" * n


@pytest.mark.parametrize("read,size,locality,offset,header", [
    (True, 4, 0, R.TPM_STS, "83d40018"),            # read 4 bytes of TPM_STS, locality 0
    (False, 1, 0, R.TPM_ACCESS, "00d40000"),        # write 1 byte to TPM_ACCESS
    (False, 64, 0, R.TPM_DATA_FIFO, "3fd40024"),    # 64-byte FIFO write
    (True, 32, 0, R.TPM_DATA_FIFO, "9fd40024"),     # 32-byte FIFO read
    (True, 4, 3, R.TPM_DID_VID, "83d43f00"),        # DID/VID of locality 3
    (True, 1, 4, R.TPM_RID, "80d44f04"),            # RID of locality 4
])
def test_spi_header_bytes(read, size, locality, offset, header):
    assert R.spi_header(read, size, R.spi_address(locality, offset)).hex() == header


def test_spi_header_refuses_sizes_outside_1_to_64():
    for size in (0, 65):
        with pytest.raises(ValueError, match="outside 1..64"):
            R.spi_header(True, size, R.SPI_BASE)


def test_spi_read_keeps_cs_asserted_between_header_and_data():
    bus = ScriptedSpi()
    phy = SpiTisPhy(bus)
    assert phy.read(R.TPM_STS, 4) == b"\xa5" * 4
    assert bus.log == [(bytes.fromhex("83d40018"), False), (bytes(4), True)]
    assert (phy.counters.transactions, phy.counters.bytes) == (1, 8)


def test_spi_write_sends_header_then_data():
    bus = ScriptedSpi()
    phy = SpiTisPhy(bus)
    phy.locality = 2
    phy.write(R.TPM_STS, bytes((R.STS_COMMAND_READY,)))
    assert bus.log == [(bytes.fromhex("00d42018"), False), (b"\x40", True)]


def test_spi_wait_states_are_clocked_one_byte_at_a_time():
    bus = ScriptedSpi(waits=3)
    phy = SpiTisPhy(bus)
    phy.read(R.TPM_ACCESS, 1)
    assert [o for o, _ in bus.log] == [bytes.fromhex("80d40000"), b"\0", b"\0", b"\0", b"\0"]
    assert all(not end for _, end in bus.log[:-1]) and bus.log[-1][1]
    assert (phy.counters.transactions, phy.counters.bytes, phy.counters.retries) == (1, 8, 0)


def test_i2c_register_addresses_and_locality_select():
    bus = ScriptedI2c()
    phy = I2cTisPhy(bus, 0x2E)
    phy.guard_s = 0
    phy.read(R.TPM_STS, 4)
    phy.write(R.TPM_DATA_FIFO, b"\x80\x01")
    phy.read(R.TPM_DID_VID, 4)
    phy.read(R.TPM_RID, 1)
    phy.read(R.TPM_ACCESS, 1)
    phy.read(R.TPM_INTF_CAPABILITY, 4)
    phy.locality = 1
    phy.write(R.TPM_INT_ENABLE, b"\0\0\0\0")
    assert bus.log == [
        ("w", 0x2E, b"\x00\x00"),                 # TPM_LOC_SEL = 0
        ("w", 0x2E, b"\x18"), ("r", 0x2E, 4),     # TPM_STS
        ("w", 0x2E, b"\x24\x80\x01"),             # TPM_DATA_FIFO write
        ("w", 0x2E, b"\x48"), ("r", 0x2E, 4),     # TPM_DID_VID
        ("w", 0x2E, b"\x4c"), ("r", 0x2E, 1),     # TPM_RID
        ("w", 0x2E, b"\x04"), ("r", 0x2E, 1),     # TPM_ACCESS
        ("w", 0x2E, b"\x14"), ("r", 0x2E, 4),     # TPM_INT_CAPABILITY
        ("w", 0x2E, b"\x00\x01"),                 # TPM_LOC_SEL = 1
        ("w", 0x2E, b"\x08\x00\x00\x00\x00"),     # TPM_INT_ENABLE
    ]


def test_i2c_setup_reads_interface_capability_and_enables_checksum():
    bus = ScriptedI2c()
    phy = I2cTisPhy(bus, 0x2E)
    phy.guard_s = 0
    info = phy.setup()
    assert bus.log[:4] == [("w", 0x2E, b"\x30"), ("r", 0x2E, 4),      # TPM_I2C_INTERFACE_CAPABILITY
                           ("w", 0x2E, b"\x40\x01"),                   # TPM_DATA_CSUM_ENABLE = 1
                           ("w", 0x2E, b"\x40")]                       # read it back
    # 0x5a5a5a5a: guard time field bits 16:9 = 0x2d = 45 us
    assert info["guard_time_us"] == 45
    assert info["checksum"] is False   # the read-back 0x5a has bit 0 clear: not enabled
    phy.has_checksum = True
    bus.log.clear()
    phy.checksum_matches(b"\x00")
    assert bus.log == [("w", 0x2E, b"\x44"), ("r", 0x2E, 2)]          # TPM_DATA_CSUM


def test_crc16_kermit_check_value_and_linux_byte_order():
    assert R.crc16_kermit(b"123456789") == 0x2189   # CRC-16/KERMIT catalogue check value
    assert R.crc16_kermit(b"") == 0


def test_status_decoding_names_bits():
    assert R.describe_sts(0x000020D4) == ("0x000020d4 (stsValid commandReady dataAvail "
                                          "selfTestDone burstCount=32)")


def test_spidev_ioctl_layout_matches_linux_spidev_h():
    import ctypes

    from harness.buses.spidev_bus import SPI_IOC_MESSAGE_1, _SpiIocTransfer

    assert ctypes.sizeof(_SpiIocTransfer) == 32          # struct spi_ioc_transfer
    assert _SpiIocTransfer.cs_change.offset == 27           # after u64,u64,u32,u32,u16,u8
    assert SPI_IOC_MESSAGE_1 == 0x40206B00               # _IOW('k', 0, char[32])
