"""Runtime measurements (Linux IMA): the measurement list, PCR 10 and a quote agree, and
every measured file is one the lab allows.

Where the list comes from:

* ``TPMHIL_IMA_LIST=FILE`` (and ``TPMHIL_IMA_ALLOWLIST=FILE``, the lab's allowlist);
* a ``device://`` target: ``/sys/kernel/security/ima/ascii_runtime_measurements``;
* a disposable target (spawned swtpm, virtual chips, or one ``--allow-destructive``
  names): a small runtime list is measured into PCR 10 once per session, as the kernel
  would, after the synthetic boot;
* otherwise the tests skip, saying so (extending PCR 10 would change the board for good).

Evidence for IEC 62443-4-2 CR 3.4 (software and information integrity).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.attest import ima as imalib
from harness.attest import pcrs as pcr_ops
from harness.attest.enroll import enroll
from harness.attest.ima_policy import judge_allowlist, load_allowlist
from harness.attest.quote import parse_attest, pcr_composite_digest, take_quote, verify_signature
from harness.transports.tcti import open_esapi
from suites.attestation.gating import may_extend

pytestmark = [pytest.mark.attestation, pytest.mark.requirement("IEC62443-4-2:CR 3.4")]
KERNEL_IMA = Path("/sys/kernel/security/ima/ascii_runtime_measurements")
SYNTHETIC_FILES = (("/usr/sbin/plc-runtime", b"plc runtime 4.1"),
                   ("/usr/bin/modbus-gw", b"gateway 1.0"), ("/etc/ld.so.cache", b"ld cache"))


@dataclass
class RuntimeList:
    ima: imalib.ImaList
    allowlist: str | None
    origin: str


def _synthetic_list(tpm_raw, out: Path) -> RuntimeList:
    esapi = open_esapi(tpm_raw)
    try:
        banks = [b for b in pcr_ops.active_banks(esapi) if b in ("sha1", "sha256", "sha384")]
        if any(v != bytes(len(v)) for v in pcr_ops.read_pcrs(esapi, banks, [10]).values()
               for v in v.values()):
            pytest.skip("PCR 10 is already measured on this target: set TPMHIL_IMA_LIST")
        boot = pcr_ops.read_pcrs(esapi, ["sha256"], list(range(10)))["sha256"]
        aggregate = hashlib.sha256(b"".join(boot[p] for p in range(10))).digest()
        entries = [imalib.ng_entry(0, "boot_aggregate", "sha256", aggregate)]
        for i, (path, content) in enumerate(SYNTHETIC_FILES, 1):
            entries.append(imalib.ng_entry(i, path, "sha256", hashlib.sha256(content).digest()))
        for e in entries:  # what the kernel extends: the template data in each bank's hash
            pcr_ops.extend(esapi, 10, {b: e.template_digest(b) for b in banks})
    finally:
        esapi.close()
    out.write_text("\n".join(e.ascii_line() for e in entries) + "\n")
    allow = out.with_name("allowlist.yaml")
    allow.write_text("files:\n" + "".join(f"  {p}: [\"sha256:{hashlib.sha256(c).hexdigest()}\"]\n"
                                           for p, c in SYNTHETIC_FILES))
    return RuntimeList(imalib.read_ima_list(out), str(allow), "synthetic")


@pytest.fixture(scope="session")
def runtime_list(tpm_target, tpm_raw, tmp_path_factory, pytestconfig, request) -> RuntimeList:
    allow = os.environ.get("TPMHIL_IMA_ALLOWLIST")
    env = os.environ.get("TPMHIL_IMA_LIST")
    if env:
        return RuntimeList(imalib.read_ima_list(env), allow, "TPMHIL_IMA_LIST")
    if tpm_target.uri.scheme == "device" and KERNEL_IMA.exists():
        return RuntimeList(imalib.read_ima_list(KERNEL_IMA), allow, "kernel")
    if not may_extend(pytestconfig, tpm_target):
        pytest.skip("no IMA measurement list for this target: set TPMHIL_IMA_LIST=FILE "
                    "(PCR 10 is only measured synthetically on disposable TPMs or with "
                    "--allow-destructive)")
    request.getfixturevalue("boot_under_test")  # the synthetic boot first (boot_aggregate)
    path = tmp_path_factory.mktemp("ima") / "ascii_runtime_measurements"
    return _synthetic_list(tpm_raw, path)


@pytest.mark.spec("Linux IMA template formats (ima, ima-ng, ima-sig)")
def test_template_hashes_recompute(runtime_list):
    check = imalib.check_template_hashes(runtime_list.ima)
    assert runtime_list.ima.entries and not check.bad, check.bad[:3]


@pytest.mark.spec("TPM 2.0 Part 3 §22.4 PCR_Read; Linux IMA PCR 10 extend")
def test_ima_list_replays_to_pcr10(tpm, runtime_list):
    banks = [b for b in pcr_ops.active_banks(tpm) if b in ("sha1", "sha256", "sha384")]
    chip = pcr_ops.read_pcrs(tpm, banks, [10])
    for bank in banks:
        replays = (imalib.replay_pcr(runtime_list.ima, bank),
                   imalib.replay_pcr(runtime_list.ima, bank, legacy=True))
        assert chip[bank][10] in replays, \
            f"PCR 10 {bank} {chip[bank][10].hex()[:16]}... is neither replay of the list"


@pytest.mark.spec("TPM 2.0 Part 3 §18.4 Quote")
@pytest.mark.needs("hierarchy:endorsement")
def test_quote_attests_the_ima_replay(tpm, runtime_list, boot_under_test):
    banks = [b for b in pcr_ops.active_banks(tpm) if b in ("sha1", "sha256")]
    enrollment = enroll(tpm, "rsa", boot_under_test.ca_certs)
    try:
        quote = take_quote(tpm, enrollment.ak_handle, banks, [10])
        assert verify_signature(enrollment.ak_key(), quote.attest, quote.signature)
    finally:
        enrollment.flush(tpm)
    body = parse_attest(quote.attest)
    assert body.extra_data == quote.nonce
    # the replay by whichever kernel rule PCR_Read shows; the signed digest must attest it
    expected = {}
    for b in banks:
        modern, legacy = (imalib.replay_pcr(runtime_list.ima, b),
                          imalib.replay_pcr(runtime_list.ima, b, legacy=True))
        expected[b] = {10: legacy if quote.pcr_read[b][10] == legacy else modern}
    assert pcr_composite_digest("sha256", body.selection, expected) == body.pcr_digest, \
        "the quote's pcrDigest does not attest the IMA list's PCR 10"


@pytest.mark.spec("IEC 62443-4-2 CR 3.4 (allowed software)")
def test_every_measured_file_is_allowed(runtime_list):
    if runtime_list.allowlist is None:
        pytest.skip("no allowlist for this image: set TPMHIL_IMA_ALLOWLIST=FILE")
    allow = load_allowlist(runtime_list.allowlist)
    changed, unknown = judge_allowlist(runtime_list.ima, allow)
    assert not changed, changed[:5]
    assert not (unknown and allow.unknown_fails), unknown[:5]
