"""``tpmhil serve``: expose a target over swtpm's socket protocol."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable

from harness.chip_profile import load_profile
from harness.errors import ConfigError
from harness.results.run_folder import DEFAULT_BASE, RunFolder
from harness.serve.server import ServeOptions, TpmServer
from harness.targets.registry import open_target
from harness.transports.base import Transport
from harness.lab.names import positive_seconds

COMMAND = "serve"
HELP = "serve a target over the swtpm socket protocol (data PORT, control PORT+1)"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (PORT 0 picks a free pair) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"--listen {text!r}: expected HOST:PORT, e.g. 0.0.0.0:2321")
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"--listen {text!r}: port {port!r} is not a number") from None
    if not 0 <= number <= 65534:
        raise ConfigError(f"--listen {text!r}: port must be 0-65534 (control uses PORT+1)")
    return host, number


def open_rig_power(setup: str, transport: Transport) -> tuple[object, Callable[[], None]]:
    """Open a rig set-up; return it and a power cycle through its supply.

    After the supply's off/on, a transport that can reset its own chip (a
    virtual chip, an swtpm) is reset too, so that the chip's state follows
    the supply.
    """
    from rigs.setup import Rig, load_setup

    rig = Rig(load_setup(setup)).open()
    if rig.supply is None:
        rig.close()
        raise ConfigError(f"--rig {setup}: the set-up has no supply to power-cycle the board")

    def power_cycle() -> None:
        rig.supply.power_cycle()
        if transport.can_power_cycle:
            transport.power_cycle()

    return rig, power_cycle


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tpm", default=None, help="target to serve (default $TPMHIL_TARGET or swtpm)")
    parser.add_argument("--listen", default="127.0.0.1:2321", help="HOST:PORT for the data "
                        "channel; control is PORT+1; port 0 picks a free pair")
    parser.add_argument("--chip-profile", default=None, help="profile for command time bounds")
    parser.add_argument("--results", default=DEFAULT_BASE, help="base folder of the command log")
    parser.add_argument("--idle-timeout", type=positive_seconds, default=300.0,
                        help="close a connection silent this many seconds (default 300)")
    parser.add_argument("--lease", type=positive_seconds, default=2.0,
                        help="seconds a client keeps the chip after its last connection")
    parser.add_argument("--rig", default=None, metavar="SETUP.yaml",
                        help="rig set-up whose supply power-cycles the board on CMD_INIT")
    parser.add_argument("--allow-shutdown", action="store_true",
                        help="let a client stop the server with CMD_SHUTDOWN")
    parser.add_argument("--allow-power-cycle", action="store_true",
                        help="with --rig: let the session holder's CMD_INIT switch the rig's "
                             "supply off and on (refused otherwise)")


def run(args: argparse.Namespace) -> int:
    host, port = parse_listen(args.listen)
    if args.rig and not args.allow_power_cycle:
        raise ConfigError("--rig lets clients cut the board's power with CMD_INIT; "
                          "add --allow-power-cycle to allow it")
    target = open_target(args.tpm)
    profile_name = args.chip_profile or target.profile_hint
    durations = load_profile(profile_name).durations if profile_name else None
    folder = RunFolder.create(args.results, kind="serve")
    server = rig = None
    try:
        transport = target.open(durations=durations)
        folder.store.set_meta("target", target.describe())
        power_cycle = None
        if args.rig:
            rig, power_cycle = open_rig_power(args.rig, transport)
            folder.store.set_meta("rig", args.rig)
        server = TpmServer(transport, ServeOptions(
            host=host, port=port, idle_timeout_s=args.idle_timeout, lease_s=args.lease,
            allow_shutdown=args.allow_shutdown, power_cycle=power_cycle,
            allow_power_cycle=args.allow_power_cycle), store=folder.store)
        server.start()
        signal.signal(signal.SIGTERM, lambda *_: server.stop())
        print(f"serving {target.uri.redacted()} as swtpm://{host}:{server.port} "
              f"(control {server.port + 1}); command log in {folder.path}", flush=True)
        try:
            server.wait()
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        if server is not None:
            server.stop()
        if rig is not None:
            rig.close()
        target.close()
        folder.summarize({"served": target.uri.text})
        folder.close()
        sys.stdout.flush()
