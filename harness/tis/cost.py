"""The FIFO protocol's minimum bus cost of one TPM command (for benchmarks).

The minimum is what a conforming host needs when the TPM is always ready,
never inserts wait states or NACKs, and has the response ready at the first
poll (TCG PC Client PTP §5.5.2 command flow):

* send: one TPM_STS read (commandReady, burstCount); per chunk of at most
  ``min(burstCount, 64)`` bytes one TPM_DATA_FIFO write and one TPM_STS read
  (next burstCount, then Expect clear); one TPM_STS write (tpmGo);
* receive: one TPM_STS read (dataAvail); per chunk one TPM_DATA_FIFO read and
  one TPM_STS read (next burstCount, then dataAvail clear); one TPM_STS write
  (commandReady);
* I2C: a register read is two messages (register address, then data) and a
  write one; with TPM_DATA_CSUM enabled, one TPM_DATA_CSUM read after the
  command and one after the response.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BusCost:
    transactions: int
    bytes: int


def _chunks(n: int, chunk: int) -> list[int]:
    return [min(chunk, n - i) for i in range(0, n, chunk)]


def minimum_cost(bus: str, cmd_len: int, rsp_len: int, burst: int, *,
                 checksum: bool = False) -> BusCost:
    """Minimum transactions and bytes for one command on ``bus`` (``spi``/``i2c``)."""
    chunk = min(burst, 64)
    writes = _chunks(cmd_len, chunk)
    reads = _chunks(rsp_len, chunk)
    sts_reads = 1 + len(writes) + 1 + len(reads)
    sts_writes = 2
    if bus == "spi":
        tx = sts_reads + sts_writes + len(writes) + len(reads)
        nbytes = (sts_reads * (4 + 4) + sts_writes * (4 + 1)
                  + sum(4 + n for n in writes) + sum(4 + n for n in reads))
        return BusCost(tx, nbytes)
    if bus == "i2c":
        # read: [addr+W, reg] then [addr+R, data...]; write: [addr+W, reg, data...]
        csum_reads = 2 if checksum else 0
        tx = 2 * (sts_reads + csum_reads) + sts_writes + len(writes) + 2 * len(reads)
        nbytes = ((sts_reads * (2 + 1 + 4)) + csum_reads * (2 + 1 + 2) + sts_writes * 3
                  + sum(2 + n for n in writes) + sum(2 + 1 + n for n in reads))
        return BusCost(tx, nbytes)
    raise ValueError(f"unknown bus {bus!r} (spi or i2c)")
