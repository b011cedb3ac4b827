"""SPI and I2C targets: discrete TPMs on a bus, and virtual chips for CI.

Forms:

* ``spi:///dev/spidev0.1?hz=10000000&chip=st33ktpm2x`` - Linux spidev
* ``i2c:///dev/i2c-1?addr=0x2e&chip=slb9673`` - Linux i2c-dev
* ``spi+ftdi://ftdi:232h/1?hz=10000000&cs=0`` - FTDI FT232H/FT2232H SPI
* ``i2c+ftdi://ftdi:232h/1?hz=400000&addr=0x2e`` - FTDI FT232H/FT2232H I2C
* ``spi+sim://st33ktpm`` - virtual ST33KTPM2X on SPI, forwarding to a private swtpm
* ``i2c+sim://slb9673``, ``i2c+sim://st33ktpm`` - virtual chips on I2C

Parameters: ``hz``, ``chip`` (profile giving timeouts and the expected vendor
ID), ``addr`` (I2C, default 0x2E), ``cs`` (FTDI chip select), ``checksum=0``
(I2C: do not use TPM_DATA_CSUM), ``max_waits`` (SPI wait states per try),
``verify=1`` (read each response twice and compare: SPI has no checksum);
virtual chips also ``faults=name:value,...`` (see harness.chips.faults, e.g.
``retry:0.05`` answers 5 % of commands TPM_RC_RETRY), ``guard_us`` (I2C guard
time the virtual chip declares), ``platform=0`` (platform hierarchy disabled
after every TPM2_Startup, as PC firmware leaves it), ``owner_auth=HEX``,
``endorsement_auth=HEX``, ``lockout_auth=HEX`` (hierarchy auth values set when
the chip starts) and ``profile=NAME`` (the profile the run is judged against;
default: the chip's own). An unknown option is an error naming it.
"""

from __future__ import annotations

from harness.chip_profile import ChipProfile, load_profile
from harness.chips.backend import SwtpmBackend
from harness.chips.faults import parse_faults
from harness.chips.models import VirtualChip, chip_personality, chip_profile, make_chip
from harness.chips.personality import HIERARCHIES, PersonalityBackend
from harness.swtpm_process import SwtpmOptions
from harness.errors import ConfigError, HarnessError, TargetError, TargetURIError, TransportError
from harness.results.exchange_log import ExchangeLog
from harness.targets.base import Target
from harness.targets.registry import TargetForm, register
from harness.targets.uri import TargetURI
from harness.tis import registers as R
from harness.tis.i2c_phy import I2cTisPhy
from harness.tis.phy import TisPhy
from harness.tis.spi_phy import DEFAULT_MAX_WAIT_STATES, SpiTisPhy
from harness.tis.transport import TisTransport
from harness.tpm.durations import CommandDurations


def _location(uri: TargetURI) -> str:
    """What follows ``scheme://`` up to the query: a device path or adapter URL."""
    return uri.text.split("://", 1)[1].split("?", 1)[0]


class _TisTarget(Target):
    """Common part: build a phy on a bus, then a TisTransport on it."""

    def __init__(self, uri: TargetURI, bus: str) -> None:
        super().__init__(uri)
        self.bus = bus
        self.address = uri.int_param("addr", R.I2C_DEFAULT_ADDRESS)
        if bus == "i2c" and not 0x03 <= self.address <= 0x77:
            raise TargetURIError(f"target {uri.text!r}: addr=0x{self.address:02x} is not a "
                                 "7-bit I2C device address (0x03-0x77; TPMs default to 0x2E)")
        self.hz = uri.int_param("hz")
        self.profile: ChipProfile | None = None
        self.info: dict[str, object] = {}

    @property
    def display_name(self) -> str:
        """The target string as messages and reports may show it."""
        return self.uri.text

    def _phy(self) -> TisPhy:
        raise NotImplementedError

    def _power_cycle(self):  # noqa: ANN202
        return None

    def _tis_transport(self, durations: CommandDurations, log: ExchangeLog) -> TisTransport:
        phy = self._phy()
        profile = self.profile
        try:
            transport = TisTransport(
                phy, profile.timeouts if profile else None,
                expect_vid=int(profile.tis["vid"]) if profile and "vid" in profile.tis else None,
                power_cycle=self._power_cycle(), verify_reads=self.uri.bool_param("verify", False),
                durations=durations, log=log, name=self.display_name,
            )
        except HarnessError as exc:
            phy.close()
            raise TargetError(f"{self.uri.text}: cannot reach the TPM: {exc}") from exc
        self.info = dict(transport.info)
        return transport

    def describe(self) -> dict[str, object]:
        out = super().describe()
        out.update(self.info)
        if self.profile is not None:
            out["chip_profile"] = self.profile.name
        return out


class HardwareBusTarget(_TisTarget):
    """A discrete TPM on spidev, i2c-dev or an FTDI adapter."""

    def __init__(self, uri: TargetURI, bus: str, adapter: str) -> None:
        super().__init__(uri, bus)
        self.adapter = adapter
        self.device = _location(uri)
        if adapter == "linux" and not self.device.startswith("/dev/"):
            raise TargetURIError(f"target {uri.text!r}: expected a device path, e.g. "
                                 f"{uri.scheme}:///dev/{'spidev0.1' if bus == 'spi' else 'i2c-1'}")
        if self.profile_hint:
            self.profile = load_profile(self.profile_hint)

    def _phy(self) -> TisPhy:
        if self.bus == "spi":
            if self.adapter == "ftdi":
                from harness.buses.ftdi import FtdiSpiBus

                spi = FtdiSpiBus(f"ftdi://{self.device}", self.hz or 1_000_000,
                                 self.uri.int_param("cs", 0))
            else:
                from harness.buses.spidev_bus import SpidevBus

                spi = SpidevBus(self.device, self.hz or 1_000_000)
            return SpiTisPhy(spi, self.uri.int_param("max_waits", DEFAULT_MAX_WAIT_STATES))
        if self.adapter == "ftdi":
            from harness.buses.ftdi import FtdiI2cBus

            i2c = FtdiI2cBus(f"ftdi://{self.device}", self.hz or 400_000)
        else:
            from harness.buses.i2cdev_bus import I2cDevBus

            i2c = I2cDevBus(self.device)
        return I2cTisPhy(i2c, self.address, checksum=self.uri.bool_param("checksum", True))

    def _open_transport(self, durations: CommandDurations, log: ExchangeLog) -> TisTransport:
        return self._tis_transport(durations, log)


class SimBusTarget(_TisTarget):
    """A register-level virtual chip on a virtual bus, forwarding to a private swtpm.

    Attributes:
        chip: the virtual chip once opened: ``chip.faults`` (a FaultPlan) and
            ``chip.reset()`` are the run-time fault controls.
        local_ca: True: the swtpm behind the chip is provisioned like the
            ``swtpm`` target, its EK certificates signed by the harness's local
            CA (``harness.swtpm_process.ca_root_certificates()``).
    """

    disposable = True
    local_ca = True

    def __init__(self, uri: TargetURI, bus: str) -> None:
        super().__init__(uri, bus)
        name = uri.host or _location(uri).strip("/")
        if not name:
            raise TargetURIError(f"target {uri.text!r}: name the chip, e.g. {uri.scheme}://"
                                 f"{'st33ktpm' if bus == 'spi' else 'slb9673'}")
        try:
            self.profile = chip_profile(name, bus)
            self.faults = parse_faults(uri.param("faults"))
        except ConfigError as exc:
            raise TargetURIError(f"target {uri.text!r}: {exc}") from None
        unknown = sorted(set(uri.params) - _SIM_OPTIONS)
        if unknown:
            raise TargetURIError(f"target {self.display_name!r}: unknown option "
                                 f"{', '.join(unknown)} (known: {', '.join(sorted(_SIM_OPTIONS))})")
        self.chip_name = name
        self.guard_us = uri.int_param("guard_us")
        try:
            self.personality = chip_personality(self.profile)
        except ConfigError as exc:
            raise TargetURIError(f"target {self.display_name!r}: {exc}") from None
        self.platform = uri.bool_param("platform", True)
        #: Hierarchy auth values set on the chip at start ({"owner": b"..."}): the
        #: run must be given the same (--owner-auth ...) to use those hierarchies.
        self.hierarchy_auth = {h: self._auth_option(f"{h}_auth") for h in HIERARCHIES
                               if uri.param(f"{h}_auth") is not None}
        # With a personality the chip is the part: the run is judged against its
        # profile; without one it is swtpm behind a bus.
        self.profile_hint = uri.param("profile") or (
            self.profile.name if self.personality is not None else "swtpm")
        self.chip: VirtualChip | None = None
        self.backend: SwtpmBackend | PersonalityBackend | None = None

    @property
    def display_name(self) -> str:
        text = self.uri.text
        for h in HIERARCHIES:
            value = self.uri.param(f"{h}_auth")
            if value:
                text = text.replace(f"{h}_auth={value}", f"{h}_auth=[REDACTED]")
        return text

    def _auth_option(self, option: str) -> bytes:
        raw = self.uri.param(option) or ""
        try:
            value = bytes.fromhex(raw.removeprefix("hex:"))
        except ValueError:
            raise TargetURIError(f"target {self.display_name!r}: {option} must be hex digits "
                                 "(the auth value's bytes)") from None
        if len(value) > 48:
            raise TargetURIError(f"target {self.display_name!r}: {option} is {len(value)} bytes; "
                                 "a hierarchy auth holds at most the context hash size (48)")
        try:
            from harness import secrets

            secrets.register(value, option)
            secrets.register(raw, option)
        except ImportError:  # pragma: no cover - older trees
            pass
        return value

    def _phy(self) -> TisPhy:
        from harness.buses.virtual import VirtualI2cBus, VirtualSpiBus

        assert self.chip is not None
        if self.bus == "spi":
            return SpiTisPhy(VirtualSpiBus(self.chip, self.uri.text, self.hz or 10_000_000),
                             self.uri.int_param("max_waits", DEFAULT_MAX_WAIT_STATES))
        return I2cTisPhy(VirtualI2cBus(self.chip, self.uri.text), self.address,
                         checksum=self.uri.bool_param("checksum", True))

    def _power_cycle(self):  # noqa: ANN202
        return self.chip.reset if self.chip is not None else None

    def _start_backend(self) -> SwtpmBackend | PersonalityBackend:
        """The swtpm behind the chip, with the part's personality and the lab's settings."""
        p = self.personality
        swtpm = SwtpmBackend(SwtpmOptions(banks=p.allocated_banks) if p else None)
        if p is None and (self.hierarchy_auth or not self.platform):
            swtpm.close()
            raise TargetURIError(f"target {self.display_name!r}: platform= and *_auth= need a "
                                 "chip with a personality")
        if p is None:
            return swtpm
        try:
            backend = PersonalityBackend(swtpm, p, platform=self.platform)
            for hierarchy, value in self.hierarchy_auth.items():
                backend.set_hierarchy_auth(hierarchy, value)
            if not self.platform:
                backend.disable_platform()
        except BaseException:
            swtpm.close()
            raise
        return backend

    def _open_transport(self, durations: CommandDurations, log: ExchangeLog) -> TisTransport:
        if self.backend is None:
            self.backend = self._start_backend()
            self.chip = make_chip(self.bus, self.profile, self.backend, self.faults, self.guard_us)
        try:
            return self._tis_transport(durations, log)
        except TargetError:
            self.close()
            raise

    def describe(self) -> dict[str, object]:
        out = super().describe()
        out.update(uri=self.display_name, virtual_chip=self.chip_name,
                   chip_profile=self.profile.name, simulation=True,
                   personality=self.personality.name if self.personality else None,
                   platform_hierarchy=self.platform,
                   hierarchy_auth_set=sorted(self.hierarchy_auth))
        swtpm = getattr(self.backend, "inner", self.backend)
        if swtpm is not None and swtpm.process is not None:
            out["swtpm_pid"] = swtpm.process.pid
        return out

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.backend is not None:
                self.backend.close()
                self.backend = None
                self.chip = None


#: Options a virtual chip target takes.
_SIM_OPTIONS = frozenset({"hz", "addr", "checksum", "max_waits", "verify", "faults", "guard_us",
                          "profile", "chip", "platform", "owner_auth", "endorsement_auth",
                          "lockout_auth"})

register(TargetForm("spi", "spi:///dev/spidev0.1?hz=10000000&chip=st33ktpm2x",
                    "TPM on Linux spidev (TCG PTP SPI)",
                    lambda uri: HardwareBusTarget(uri, "spi", "linux")))
register(TargetForm("i2c", "i2c:///dev/i2c-1?addr=0x2e&chip=slb9673",
                    "TPM on Linux i2c-dev (TCG PTP I2C)",
                    lambda uri: HardwareBusTarget(uri, "i2c", "linux")))
register(TargetForm("spi+ftdi", "spi+ftdi://ftdi:232h/1?hz=10000000",
                    "TPM on an FTDI FT232H/FT2232H SPI port",
                    lambda uri: HardwareBusTarget(uri, "spi", "ftdi")))
register(TargetForm("i2c+ftdi", "i2c+ftdi://ftdi:232h/1?addr=0x2e",
                    "TPM on an FTDI FT232H/FT2232H I2C port",
                    lambda uri: HardwareBusTarget(uri, "i2c", "ftdi")))
register(TargetForm("spi+sim", "spi+sim://st33ktpm?faults=waits:2",
                    "virtual ST33KTPM on SPI, backed by a private swtpm",
                    lambda uri: SimBusTarget(uri, "spi")))
register(TargetForm("i2c+sim", "i2c+sim://slb9673",
                    "virtual SLB9673 / ST33KTPM on I2C, backed by a private swtpm",
                    lambda uri: SimBusTarget(uri, "i2c")))

__all__ = ["HardwareBusTarget", "SimBusTarget", "TransportError"]
