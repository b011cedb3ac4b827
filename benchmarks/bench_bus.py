"""Virtual SPI and I2C chips against the direct swtpm path, per TPM command.

One spawned swtpm serves all three paths in turn: direct (the harness's swtpm
socket transport), the virtual ST33KTPM on SPI, and the virtual SLB9673 on I2C
(each a register-level chip forwarding to that same swtpm). For each command
(through ESAPI): median round trip, its ratio to the direct path, and the bus
transactions and bytes of each exchange beside the TCG PTP FIFO protocol's
minimum for that command (harness.tis.cost). Targets: bus transactions
<= 1.1x the minimum; round trip within a small factor (<= 3x) of direct.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import median_us, print_table, standard_workloads, verdict, write_json  # noqa: E402

from harness.buses.virtual import VirtualI2cBus, VirtualSpiBus  # noqa: E402
from harness.chip_profile import load_profile  # noqa: E402
from harness.chips.backend import SwtpmBackend  # noqa: E402
from harness.chips.models import chip_profile, make_chip  # noqa: E402
from harness.swtpm_process import SwtpmOptions  # noqa: E402
from harness.tis.cost import minimum_cost  # noqa: E402
from harness.tis.i2c_phy import I2cTisPhy  # noqa: E402
from harness.tis.spi_phy import SpiTisPhy  # noqa: E402
from harness.tis.transport import TisTransport  # noqa: E402
from harness.transports.tcti import open_esapi  # noqa: E402

TARGET_TX_RATIO = 1.1
PATHS = ("direct", "spi", "i2c")


def _transport(path: str, backend: SwtpmBackend):
    if path == "direct":
        return backend.transport, None
    bus = path
    profile = chip_profile("st33ktpm" if bus == "spi" else "slb9673", bus)
    chip = make_chip(bus, profile, backend)
    phy = (SpiTisPhy(VirtualSpiBus(chip)) if bus == "spi"
           else I2cTisPhy(VirtualI2cBus(chip), chip.address))
    durations = load_profile("swtpm").durations
    return TisTransport(phy, profile.timeouts, durations=durations, name=f"{bus}+sim"), chip


def measure(rounds: int, per_round: int) -> dict:
    backend = SwtpmBackend(SwtpmOptions(ek_certs=False))
    samples: dict = {}
    bus_cost: dict = {}
    try:
        for _ in range(rounds):
            for path in PATHS:
                transport, _chip = _transport(path, backend)
                esapi = open_esapi(transport)
                work, key = standard_workloads(esapi)
                for name, fn in work.items():
                    bucket = samples.setdefault(name, {p: [] for p in PATHS})[path]
                    fn()  # the first command after a switch moves the chip to Ready
                    transport.log.drain()
                    for _ in range(per_round):
                        t0 = time.perf_counter()
                        fn()
                        bucket.append(time.perf_counter() - t0)
                    if path != "direct":
                        recs = [r for r in transport.log.drain() if r.rc >= 0]
                        bus_cost.setdefault(name, {})[path] = recs[-1]
                esapi.flush_context(key)
                esapi.close()
                if path != "direct":
                    transport.close()
    finally:
        backend.close()
    return {"samples": samples, "bus": bus_cost}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=30)
    args = parser.parse_args()
    data = measure(args.rounds, args.per_round)
    rtt_rows, bus_rows, out = [], [], {}
    for name, paths in data["samples"].items():
        direct = median_us(paths["direct"])
        entry = out[name] = {"direct_median_us": direct}
        for bus in ("spi", "i2c"):
            us = median_us(paths[bus])
            ratio = us / direct
            rec = data["bus"][name][bus]
            minimum = minimum_cost(bus, rec.cmd_size, rec.rsp_size, 32, checksum=bus == "i2c")
            tx_ratio = rec.bus_transactions / minimum.transactions
            rtt_rows.append([name, bus, f"{direct:.1f}", f"{us:.1f}", f"{ratio:.2f}"])
            bus_rows.append([name, bus, rec.cmd_size, rec.rsp_size, rec.bus_transactions,
                             minimum.transactions, f"{tx_ratio:.2f}", rec.bus_bytes, minimum.bytes,
                             f"<= {TARGET_TX_RATIO}", verdict(tx_ratio, TARGET_TX_RATIO)])
            entry[bus] = {"median_us": us, "ratio_to_direct": ratio,
                          "cmd_bytes": rec.cmd_size, "rsp_bytes": rec.rsp_size,
                          "transactions": rec.bus_transactions,
                          "min_transactions": minimum.transactions,
                          "transaction_ratio": tx_ratio, "target_transaction_ratio": TARGET_TX_RATIO,
                          "bus_bytes": rec.bus_bytes, "min_bus_bytes": minimum.bytes,
                          "samples": len(paths[bus])}
    print_table("Round trip per command through ESAPI (medians): virtual SPI/I2C chip vs "
                "direct swtpm, same swtpm (reported; the cost is the virtual bus in Python, "
                "not the harness)", ["command", "bus", "direct µs", "bus µs", "ratio"], rtt_rows)
    print_table("Bus cost per command vs the TCG PTP FIFO protocol minimum (burstCount 32; "
                "I2C with TPM_DATA_CSUM)", ["command", "bus", "cmd B", "rsp B", "transactions",
                                           "minimum", "ratio", "bus bytes", "min bytes",
                                           "target", "verdict"], bus_rows)
    write_json("bus", {"commands": out, "rounds": args.rounds, "per_round": args.per_round,
                       "stdev_note": "medians over rounds x per_round samples"})


if __name__ == "__main__":
    main()
