"""TCG PC Client Platform TPM Profile (PTP) FIFO registers and bits.

Offsets are the FIFO interface's (PTP §6.3.2, Table 19) within a locality's
4 KiB page; SPI addresses them at ``0xD40000 + locality * 0x1000 + offset``
(PTP §6.4.6). The I2C interface (PTP §7.3) uses its own one-byte register
addresses, mapped by :data:`I2C_REGISTER`; locality is chosen with
TPM_LOC_SEL instead of the address.
"""

from __future__ import annotations

# -- FIFO register offsets (PTP §6.3.2) --------------------------------------
TPM_ACCESS = 0x0000
TPM_INT_ENABLE = 0x0008
TPM_INT_VECTOR = 0x000C
TPM_INT_STATUS = 0x0010
TPM_INTF_CAPABILITY = 0x0014
TPM_STS = 0x0018
TPM_DATA_FIFO = 0x0024
TPM_INTERFACE_ID = 0x0030
TPM_DID_VID = 0x0F00
TPM_RID = 0x0F04

REGISTER_NAMES = {
    TPM_ACCESS: "TPM_ACCESS", TPM_INT_ENABLE: "TPM_INT_ENABLE", TPM_INT_VECTOR: "TPM_INT_VECTOR",
    TPM_INT_STATUS: "TPM_INT_STATUS", TPM_INTF_CAPABILITY: "TPM_INTF_CAPABILITY",
    TPM_STS: "TPM_STS", TPM_DATA_FIFO: "TPM_DATA_FIFO", TPM_INTERFACE_ID: "TPM_INTERFACE_ID",
    TPM_DID_VID: "TPM_DID_VID", TPM_RID: "TPM_RID",
}

# -- SPI (PTP §6.4.6) ---------------------------------------------------------
SPI_BASE = 0xD40000
SPI_LOCALITY_STRIDE = 0x1000
SPI_READ = 0x80          # header byte 0 bit 7: 1 = read, 0 = write
SPI_MAX_TRANSFER = 64    # header byte 0 bits 5:0 hold size - 1
SPI_WAIT_READY = 0x01    # MISO bit 0 of the last header byte (and wait bytes): 1 = go on


def spi_address(locality: int, offset: int) -> int:
    """The 24-bit SPI address of a FIFO register in ``locality``."""
    return SPI_BASE + locality * SPI_LOCALITY_STRIDE + offset


def spi_header(read: bool, size: int, address: int) -> bytes:
    """The 4-byte SPI transaction header: R/W and size-1, then the address (big-endian).

    Raises:
        ValueError: size outside 1..64.
    """
    if not 1 <= size <= SPI_MAX_TRANSFER:
        raise ValueError(f"SPI TPM transfer size {size} outside 1..{SPI_MAX_TRANSFER}")
    return bytes(((SPI_READ if read else 0) | (size - 1),
                  (address >> 16) & 0xFF, (address >> 8) & 0xFF, address & 0xFF))


# -- I2C (PTP §7.3, register map Table 49) -------------------------------------
I2C_DEFAULT_ADDRESS = 0x2E
TPM_I2C_LOC_SEL = 0x00
TPM_I2C_ACCESS = 0x04
TPM_I2C_INT_ENABLE = 0x08
TPM_I2C_INT_CAPABILITY = 0x14
TPM_I2C_STS = 0x18
TPM_I2C_DATA_FIFO = 0x24
TPM_I2C_INTERFACE_CAPABILITY = 0x30
TPM_I2C_DEVICE_ADDRESS = 0x38
TPM_I2C_DATA_CSUM_ENABLE = 0x40
TPM_I2C_DATA_CSUM = 0x44
TPM_I2C_DID_VID = 0x48
TPM_I2C_RID = 0x4C

#: FIFO offset -> I2C register address, for the registers both interfaces share.
I2C_REGISTER = {
    TPM_ACCESS: TPM_I2C_ACCESS, TPM_INT_ENABLE: TPM_I2C_INT_ENABLE,
    TPM_INTF_CAPABILITY: TPM_I2C_INT_CAPABILITY, TPM_STS: TPM_I2C_STS,
    TPM_DATA_FIFO: TPM_I2C_DATA_FIFO, TPM_DID_VID: TPM_I2C_DID_VID, TPM_RID: TPM_I2C_RID,
}
I2C_REGISTER_NAMES = {
    TPM_I2C_LOC_SEL: "TPM_LOC_SEL", TPM_I2C_ACCESS: "TPM_ACCESS",
    TPM_I2C_INT_ENABLE: "TPM_INT_ENABLE", TPM_I2C_INT_CAPABILITY: "TPM_INT_CAPABILITY",
    TPM_I2C_STS: "TPM_STS", TPM_I2C_DATA_FIFO: "TPM_DATA_FIFO",
    TPM_I2C_INTERFACE_CAPABILITY: "TPM_I2C_INTERFACE_CAPABILITY",
    TPM_I2C_DEVICE_ADDRESS: "TPM_I2C_DEVICE_ADDRESS",
    TPM_I2C_DATA_CSUM_ENABLE: "TPM_DATA_CSUM_ENABLE", TPM_I2C_DATA_CSUM: "TPM_DATA_CSUM",
    TPM_I2C_DID_VID: "TPM_DID_VID", TPM_I2C_RID: "TPM_RID",
}

# TPM_I2C_INTERFACE_CAPABILITY guard-time fields (PTP §7.3.4; as the Linux driver reads them)
I2C_GUARD_TIME_SHIFT = 9
I2C_GUARD_TIME_MASK = 0x0001FE00     # bits 16:9, microseconds
I2C_GUARD_WW = 0x00020000            # write then write
I2C_GUARD_WR = 0x00040000            # write then read
I2C_GUARD_RW = 0x00080000            # read then write
I2C_GUARD_RR = 0x00100000            # read then read
I2C_GUARD_SR = 0x40000000            # read with repeated start
I2C_DEFAULT_GUARD_US = 250           # until the capability register has been read

# -- TPM_ACCESS bits (PTP §6.3.2.1) ---------------------------------------------
ACCESS_ESTABLISHMENT = 0x01
ACCESS_REQUEST_USE = 0x02
ACCESS_PENDING_REQUEST = 0x04
ACCESS_SEIZE = 0x08
ACCESS_BEEN_SEIZED = 0x10
ACCESS_ACTIVE_LOCALITY = 0x20
ACCESS_VALID = 0x80
ACCESS_READ_ZERO = 0x48

# -- TPM_STS bits (PTP §6.3.2.5) ------------------------------------------------
STS_RESPONSE_RETRY = 0x02
STS_SELF_TEST_DONE = 0x04
STS_EXPECT = 0x08
STS_DATA_AVAIL = 0x10
STS_GO = 0x20
STS_COMMAND_READY = 0x40
STS_VALID = 0x80
STS_READ_ZERO = 0x23                 # bits a read must return 0 (tpmGo, responseRetry, bit 0)
STS_BURST_SHIFT = 8
STS_BURST_MASK = 0xFFFF << STS_BURST_SHIFT
STS_COMMAND_CANCEL = 1 << 24
STS_RESET_ESTABLISHMENT = 1 << 25
STS_FAMILY_TPM20 = 1 << 26           # tpmFamily (bits 27:26) = 01b

# -- TPM_INTF_CAPABILITY (PTP §6.3.2.7) -----------------------------------------
INTF_BURST_COUNT_STATIC = 1 << 8
INTF_TRANSFER_SIZE_64 = 3 << 9       # DataTransferSizeSupport = 11b: up to 64 bytes
INTF_VERSION_TPM20 = 3 << 28         # InterfaceVersion 011b: TIS 1.3 for TPM 2.0 (FIFO)


def describe_sts(sts: int) -> str:
    """Human-readable TPM_STS, e.g. ``0x00002090 (stsValid dataAvail burstCount=32)``."""
    names = [(STS_VALID, "stsValid"), (STS_COMMAND_READY, "commandReady"),
             (STS_DATA_AVAIL, "dataAvail"), (STS_EXPECT, "Expect"),
             (STS_SELF_TEST_DONE, "selfTestDone")]
    bits = [n for b, n in names if sts & b]
    return f"0x{sts:08x} ({' '.join(bits) or 'no status bits'} burstCount={(sts >> 8) & 0xFFFF})"


def describe_access(access: int) -> str:
    names = [(ACCESS_VALID, "tpmRegValidSts"), (ACCESS_ACTIVE_LOCALITY, "activeLocality"),
             (ACCESS_BEEN_SEIZED, "beenSeized"), (ACCESS_PENDING_REQUEST, "pendingRequest"),
             (ACCESS_REQUEST_USE, "requestUse"), (ACCESS_ESTABLISHMENT, "tpmEstablishment")]
    return f"0x{access:02x} ({' '.join(n for b, n in names if access & b) or 'no bits'})"


# -- TPM_DATA_CSUM: CRC-16/CCITT as the Linux driver's crc_ccitt (KERMIT) ---------------
def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16_kermit(data: bytes, crc: int = 0) -> int:
    """CRC-16/KERMIT (reflected poly 0x1021, init 0): the TPM_DATA_CSUM checksum.

    The TPM presents it in TPM_DATA_CSUM most significant byte first on the
    wire (the Linux driver compares the little-endian register with the
    byte-swapped CRC).
    """
    table = _CRC_TABLE
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc
