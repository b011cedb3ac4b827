"""Shared set-up for the attestation tests: one provisioned swtpm, measured once.

The swtpm is real (spawned and provisioned with EK certificates by
:class:`harness.swtpm_process.SwtpmProcess`); the synthetic boot is extended
into it once per session and its PCRs are read back, so the offline replay
tests compare against values a TPM computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness.attest import pcrs as pcr_ops
from harness.attest import synth
from harness.attest.eventlog import EventLog, encode_eventlog, parse_eventlog
from harness.attest.replay import SRTM_PCRS
from harness.results.exchange_log import ExchangeLog
from harness.swtpm_process import SwtpmProcess, SwtpmOptions
from harness.transports.swtpm import SwtpmTransport
from harness.transports.tcti import open_esapi


@dataclass
class MeasuredTpm:
    """A swtpm that went through the synthetic boot, and what it holds."""

    process: SwtpmProcess
    transport: SwtpmTransport
    esapi: object
    log_bytes: bytes
    chip: dict[str, dict[int, bytes]]
    active: list[str]

    def log(self) -> EventLog:
        """A fresh parsed copy of the synthetic log (tests may edit it)."""
        return parse_eventlog(self.log_bytes, "synthetic.log")


@pytest.fixture(scope="session")
def measured_tpm():
    process = SwtpmProcess(SwtpmOptions(banks=("sha1", "sha256", "sha384")))
    transport = SwtpmTransport("127.0.0.1", process.port, log=ExchangeLog())
    esapi = open_esapi(transport)
    try:
        log = synth.synthesize(esapi)
        data = encode_eventlog(log)
        chip = pcr_ops.read_pcrs(esapi, log.banks, list(SRTM_PCRS))
        yield MeasuredTpm(process, transport, esapi, data, chip, pcr_ops.active_banks(esapi))
    finally:
        esapi.close()
        transport.close()
        process.stop()
