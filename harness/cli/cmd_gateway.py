"""``tpmhil gateway``: run the gateway simulator (the MCU side) on a CAN bus or a
serial line, forwarding TPM commands to any target.

The ``--can``/``--serial`` string is the one the *host* uses (the gateway
answers on the swapped identifiers), so both sides are configured by one string.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from harness.errors import ConfigError, ProfileError
from harness.lab.names import positive_seconds

COMMAND = "gateway"
HELP = "run the CAN/serial gateway simulator, bridging to a TPM target"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--can", metavar="URI",
                       help="host's CAN string, e.g. 'can://socketcan/vcan0?tx=0x7E0&rx=0x7E8&fd=1'")
    where.add_argument("--serial", metavar="URI",
                       help="serial port, e.g. 'serial:///dev/ttyUSB1?baud=921600&framing=slip'")
    parser.add_argument("--tpm", default="swtpm", metavar="URI",
                        help="target the gateway forwards to (default: a spawned swtpm)")
    parser.add_argument("--faults", default="", help="fault plan, e.g. 'lose@3,busy@5:2' (see docs)")
    parser.add_argument("--duration", type=positive_seconds, default=None, metavar="S",
                        help="stop after S seconds (default: run until interrupted)")


def run(args: argparse.Namespace) -> int:
    # The bus extra (python-can, pyserial) only when the gateway runs: `tpmhil --help` needs none.
    from harness.can.bridge import GatewayBridge, backend_target
    from harness.can.faults import FaultPlan
    from harness.can.serial_link import open_serial
    from harness.chip_profile import load_profile
    from harness.targets.can import CAN_PARAMS, SERIAL_PARAMS, _check_params, can_settings
    from harness.targets.uri import parse_target

    backend = backend_target(args.tpm)
    durations = None
    if backend.profile_hint:
        try:
            durations = load_profile(backend.profile_hint).durations
        except ProfileError:
            durations = None
    if args.can:
        uri = parse_target(args.can)
        if uri.scheme != "can":
            raise ConfigError(f"--can {args.can!r}: expected can://INTERFACE/CHANNEL?...")
        _check_params(uri, CAN_PARAMS)
        settings = can_settings(uri)
        bridge = GatewayBridge(backend, FaultPlan.parse(args.faults, can=True), durations)
        bridge.start_can(settings)
        where = settings.peer().describe()
    else:
        uri = parse_target(args.serial)
        if uri.scheme != "serial" or not uri.path:
            raise ConfigError(f"--serial {args.serial!r}: expected serial:///dev/ttyUSB1?baud=...")
        _check_params(uri, SERIAL_PARAMS)
        framing = (uri.param("framing") or "slip").lower()
        port = open_serial(uri.path, uri.int_param("baud", 115200))
        bridge = GatewayBridge(backend, FaultPlan.parse(args.faults, can=False), durations)
        bridge.start_serial(port, framing)
        where = f"serial {uri.path} {framing}"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"gateway simulator on {where} -> {args.tpm}"
          + (f" (faults: {args.faults})" if args.faults else ""), flush=True)
    t_end = time.monotonic() + args.duration if args.duration else None
    try:
        while not stop.is_set():
            if t_end is not None and time.monotonic() >= t_end:
                break
            stop.wait(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        stats = dict(bridge.simulator.stats) if bridge.simulator else {}
        bridge.close()
    print("gateway stopped: " + ", ".join(f"{k}={v}" for k, v in stats.items()), file=sys.stdout)
    return 0
