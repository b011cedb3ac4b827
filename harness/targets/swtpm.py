"""``swtpm`` (spawned and provisioned by the harness) and ``swtpm://HOST:PORT``."""

from __future__ import annotations

from harness.errors import TargetURIError
from harness.results.exchange_log import ExchangeLog
from harness.swtpm_process import DEFAULT_BANKS, SwtpmOptions, SwtpmProcess
from harness.targets.base import Target
from harness.targets.registry import TargetForm, register
from harness.targets.uri import TargetURI
from harness.tpm.durations import CommandDurations
from harness.transports.swtpm import SwtpmTransport


#: The PCR banks swtpm_setup --pcr-banks accepts (swtpm 0.7: libtpms' hash algorithms).
SWTPM_BANKS = ("sha1", "sha256", "sha384", "sha512")


def pcr_banks(uri: TargetURI) -> tuple[str, ...]:
    """``banks=sha1,sha256`` checked against what swtpm supports (default: DEFAULT_BANKS).

    Raises:
        TargetURIError: an empty list or a bank swtpm does not have, named.
    """
    raw = uri.param("banks")
    if raw is None:
        return DEFAULT_BANKS
    banks = tuple(b.strip().lower() for b in raw.split(",") if b.strip())
    if not banks:
        raise TargetURIError(f"target {uri.redacted()!r}: banks= is empty; name one or more of "
                             f"{', '.join(SWTPM_BANKS)}")
    for bank in banks:
        if bank not in SWTPM_BANKS:
            raise TargetURIError(f"target {uri.redacted()!r}: swtpm has no {bank!r} PCR bank; "
                                 f"it supports {', '.join(SWTPM_BANKS)}")
    return tuple(dict.fromkeys(banks))


class SpawnedSwtpmTarget(Target):
    """A private swtpm started for this run and removed after it.

    Parameters: ``banks=sha1,sha256,sha384`` (PCR banks), ``ekcert=0`` (no EK
    certificates), ``state=DIR`` (keep the TPM state there).
    """

    disposable = True
    local_ca = True  # EK certificates are issued by the harness's local CA

    def __init__(self, uri: TargetURI) -> None:
        super().__init__(uri)
        banks = pcr_banks(uri)
        self.options = SwtpmOptions(
            banks=banks, ek_certs=uri.bool_param("ekcert", True), state_dir=uri.param("state")
        )
        if self.profile_hint is None:
            self.profile_hint = "swtpm"
        self.process: SwtpmProcess | None = None

    def _open_transport(self, durations: CommandDurations, log: ExchangeLog) -> SwtpmTransport:
        if self.process is None:
            self.process = SwtpmProcess(self.options)
        return SwtpmTransport("127.0.0.1", self.process.port, durations=durations, log=log,
                              name=f"swtpm (spawned, pid {self.process.pid})")

    def describe(self) -> dict[str, object]:
        out = super().describe()
        if self.process is not None:
            out.update(port=self.process.port, pid=self.process.pid,
                       banks=list(self.options.banks))
        return out

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.process is not None:
                self.process.stop()
                self.process = None


class SwtpmSocketTarget(Target):
    """An swtpm already running: data on PORT, control on PORT+1 (``ctrl=`` overrides)."""

    def __init__(self, uri: TargetURI) -> None:
        super().__init__(uri)
        self.host, self.port = uri.require_host_port()
        self.ctrl_port = uri.int_param("ctrl", self.port + 1)
        self.disposable = uri.bool_param("disposable", False)

    def _open_transport(self, durations: CommandDurations, log: ExchangeLog) -> SwtpmTransport:
        return SwtpmTransport(self.host, self.port, ctrl_port=self.ctrl_port,
                              durations=durations, log=log)


register(TargetForm("swtpm", "swtpm", "spawn and provision a private swtpm (default)",
                    lambda uri: SwtpmSocketTarget(uri) if uri.host else SpawnedSwtpmTarget(uri)))
