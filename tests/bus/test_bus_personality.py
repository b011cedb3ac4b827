"""Virtual chips with the real parts' personalities, end to end: real bytes
through the TIS/SPI/I2C code to the virtual chip, whose personality answers or
refuses, and a real swtpm behind it for everything forwarded."""

from __future__ import annotations

import struct
import time

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CAP, TPM2_ECC
from tpm2_pytss.types import TPM2B_PUBLIC, TPMT_PUBLIC_PARMS

from harness.errors import TargetURIError
from harness.identity import TPMA_CC_V, list_commands, probe
from harness.swtpm_process import SwtpmProcess
from harness.targets.registry import open_target
from harness.tpm import properties as PT
from harness.tpm.expect import ExpectRC, raw_rc
from harness.tpm.wire import build_command
from harness.transports.base import TpmWarningError
from harness.transports.swtpm import SwtpmTransport
from harness.transports.tcti import open_esapi

TPM_RC_COMMAND_SIZE, TPM_RC_COMMAND_CODE = 0x142, 0x143
# Format-one codes with parameter/handle numbers (TPM 2.0 Part 2 §6.6.3).
CURVE_P2 = 0x0A6 | 0x040 | 0x200        # TPM_RC_CURVE, parameter 2 (inPublic)
CURVE_P1 = 0x0A6 | 0x040 | 0x100        # TPM_RC_CURVE, parameter 1
VALUE_P2 = 0x084 | 0x040 | 0x200        # TPM_RC_VALUE (TPMI_RSA_KEY_BITS), parameter 2
NV_READ_SIZE = 0x084 | 0x040 | 0x100    # TPM_RC_VALUE + size (Part 3 §31.13)
HIERARCHY_H1 = 0x085 | 0x100            # TPM_RC_HIERARCHY, handle 1
BAD_AUTH_S1 = 0x0A2 | 0x800 | 0x100     # TPM_RC_BAD_AUTH, session 1
ECC_P256 = "ecc256:ecdsa-sha256:null"
ATTRS = "userwithauth|sign|fixedtpm|fixedparent|sensitivedataorigin"


class Chip:
    def __init__(self, uri: str) -> None:
        self.target = open_target(uri)
        self.transport = self.target.open()
        self.esapi = open_esapi(self.transport)

    def close(self) -> None:
        self.esapi.close()
        self.target.close()


@pytest.fixture(scope="module")
def st33():
    chip = Chip("spi+sim://st33ktpm")
    yield chip
    chip.close()


@pytest.fixture(scope="module")
def slb():
    chip = Chip("i2c+sim://slb9673")
    yield chip
    chip.close()


@pytest.fixture(scope="module")
def swtpm_commands():
    proc = SwtpmProcess()
    try:
        t = SwtpmTransport("127.0.0.1", proc.port)
        esapi = open_esapi(t)
        commands = list_commands(esapi)
        esapi.close()
        t.close()
    finally:
        proc.stop()
    return commands


def test_st33ktpm_reports_the_part_not_swtpm(st33, swtpm_commands):
    ident = probe(st33.esapi)
    assert (ident.manufacturer_id, ident.spec_revision, ident.firmware) == (0x53544D20, 159, "1.771")
    assert ident.ecc_curves == ["nist_p256", "nist_p384"]
    assert ident.pcr_banks == ["sha256"]
    assert "ecdaa" not in ident.algorithms and "sha512" not in ident.algorithms
    assert len(ident.commands) < len(swtpm_commands)
    assert 0x18B not in ident.command_codes and 0x18B in swtpm_commands  # TPM2_Commit
    assert ident.vendor_commands == [0x20000307, 0x20000309, 0x2000030A, 0x2000030B,
                                     0x2000030E, 0x2000030F]
    assert not set(ident.vendor_commands) & set(ident.command_codes)
    assert st33.target.profile_hint == "st33ktpm2x"


def test_slb9673_reports_the_part_not_swtpm(slb, swtpm_commands):
    ident = probe(slb.esapi)
    assert (ident.manufacturer, ident.vendor, ident.spec_revision) == ("IFX", "SLB9673", 159)
    assert ident.firmware == "26.13.3021.0"   # ifx rule: FV1 major.minor, FV2 build.patch
    assert ident.pcr_banks == ["sha1", "sha256"]
    assert (ident.nv_buffer_max, ident.max_digest) == (768, 48)
    assert len(ident.commands) < len(swtpm_commands)
    assert all(cc & TPMA_CC_V for cc in ident.vendor_commands) and len(ident.vendor_commands) == 5


def test_properties_come_from_the_part(st33):
    _, data = st33.esapi.get_capability(TPM2_CAP.TPM_PROPERTIES, PT.MAX_COMMAND_SIZE, 2)
    props = {int(p.property): int(p.value) for p in data.data.tpmProperties}
    assert props == {PT.MAX_COMMAND_SIZE: 0x710, PT.MAX_RESPONSE_SIZE: 0x710}


def test_command_list_pages_with_vendor_commands_last(st33):
    seen: list[int] = []
    cc, more = 0, True
    while more:
        more, data = st33.esapi.get_capability(TPM2_CAP.COMMANDS, cc, 16)
        got = [int(a) for a in data.data.command]
        assert 0 < len(got) <= 16
        seen += [(a & 0xFFFF) | (a & TPMA_CC_V) for a in got]
        cc = seen[-1] + 1
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert [c for c in seen if c & TPMA_CC_V] == seen[-6:]


def test_lacking_command_gets_command_code_others_run_on_swtpm(st33):
    commit = build_command(0x18B, struct.pack(">I", 0x80000000) + bytes(8), tag=0x8002)
    assert int.from_bytes(st33.transport.exchange(commit)[6:10], "big") == TPM_RC_COMMAND_CODE
    assert raw_rc(st33.transport, 0x17B, b"\x00\x10") == 0       # GetRandom, forwarded
    assert raw_rc(st33.transport, 0x20000307) == TPM_RC_COMMAND_CODE  # vendor: not executed


def test_bn_curve_is_refused_with_curve_and_p256_works(st33):
    template = TPM2B_PUBLIC.parse(ECC_P256, objectAttributes=ATTRS)
    handle = st33.esapi.create_primary(None, template)[0]
    st33.esapi.flush_context(handle)
    template.publicArea.parameters.eccDetail.curveID = TPM2_ECC.BN_P256
    with ExpectRC(CURVE_P2):
        st33.esapi.create_primary(None, template)
    body = struct.pack(">H", int(TPM2_ECC.BN_P256))
    assert raw_rc(st33.transport, 0x178, body) == CURVE_P1        # ECC_Parameters


def test_rsa_1024_is_refused_as_the_part_unmarshals_it(st33):
    template = TPM2B_PUBLIC.parse("rsa1024:rsassa-sha256:null", objectAttributes=ATTRS)
    with ExpectRC(VALUE_P2):
        st33.esapi.create_primary(None, template)
    parms = TPMT_PUBLIC_PARMS(type=TPM2_ALG.RSA)
    parms.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG.NULL
    parms.parameters.rsaDetail.scheme.scheme = TPM2_ALG.NULL
    parms.parameters.rsaDetail.keyBits = 3072
    st33.esapi.test_parms(parms)  # the part has 3072


@pytest.mark.parametrize("size", [1809, 4000, 5000])
def test_oversize_command_gets_command_size(st33, size):
    command = build_command(0x17B, b"\x00\x10" + bytes(size - 12))
    response = st33.transport.exchange(command)
    assert int.from_bytes(response[6:10], "big") == TPM_RC_COMMAND_SIZE


def test_command_at_the_limit_reaches_swtpm(st33):
    command = build_command(0x17B, b"\x00\x10" + bytes(1808 - 12))
    rc = int.from_bytes(st33.transport.exchange(command)[6:10], "big")
    assert rc not in (0, TPM_RC_COMMAND_SIZE)  # swtpm's own answer to trailing bytes


def test_nv_read_beyond_the_parts_buffer(slb):
    # EK certificate index (owner-readable); 769 > TPM_PT_NV_BUFFER_MAX 768.
    index = slb.esapi.tr_from_tpmpublic(0x01C00002)
    with ExpectRC(NV_READ_SIZE):
        slb.esapi.nv_read(index, 769, 0, auth_handle=ESYS_TR.OWNER)
    assert len(slb.esapi.nv_read(index, 768, 0, auth_handle=ESYS_TR.OWNER)) == 768


def test_platform_disabled_and_owner_auth_set():
    chip = Chip("spi+sim://st33ktpm?platform=0&owner_auth=0011223344556677")
    try:
        _, data = chip.esapi.get_capability(TPM2_CAP.TPM_PROPERTIES, PT.STARTUP_CLEAR, 1)
        assert not int(data.data.tpmProperties[0].value) & 1   # phEnable
        template = TPM2B_PUBLIC.parse(ECC_P256, objectAttributes=ATTRS)
        with ExpectRC(HIERARCHY_H1):
            chip.esapi.create_primary(None, template, primary_handle=ESYS_TR.PLATFORM)
        with ExpectRC(BAD_AUTH_S1):
            chip.esapi.create_primary(None, template, primary_handle=ESYS_TR.OWNER)
        chip.esapi.tr_set_auth(ESYS_TR.OWNER, bytes.fromhex("0011223344556677"))
        handle = chip.esapi.create_primary(None, template, primary_handle=ESYS_TR.OWNER)[0]
        chip.esapi.flush_context(handle)
        # A power cycle: phEnable comes back with Startup, and the "firmware" clears it again.
        chip.transport.power_cycle()
        chip.esapi.startup(0)
        with ExpectRC(HIERARCHY_H1):
            chip.esapi.create_primary(None, template, primary_handle=ESYS_TR.PLATFORM)
        assert "0011223344556677" not in str(chip.target.describe())
    finally:
        chip.close()


def test_retry_injection_is_recovered_and_visible():
    chip = Chip("i2c+sim://slb9673?faults=retry:0.3,seed:5")
    try:
        chip.transport.log.drain()
        for _ in range(20):
            assert len(chip.esapi.get_random(8)) == 8
        records = chip.transport.log.drain()
        retried = [i for i, r in enumerate(records) if r.rc == 0x922]
        assert retried and chip.target.chip.faults.injected["retry"] == len(retried)
        # Each resend is the next record: the same command, sent again.
        assert all(records[i + 1].command == records[i].command for i in retried)
        assert sum(1 for r in records if r.rc == 0) == 20
    finally:
        chip.close()


def test_chip_that_retries_forever_fails_within_the_bound():
    chip = Chip("spi+sim://st33ktpm")
    try:
        chip.target.chip.faults.set(retry_rate=1.0)
        start = time.monotonic()
        with pytest.raises(TpmWarningError, match=r"TPM2_GetRandom was answered TPM_RC_RETRY x\d+"):
            chip.transport.exchange(build_command(0x17B, b"\x00\x08"))
        assert time.monotonic() - start < 15
        chip.target.chip.faults.set(retry_rate=0.0)
        assert raw_rc(chip.transport, 0x17B, b"\x00\x08") == 0
    finally:
        chip.close()


@pytest.mark.parametrize("uri, message", [
    ("spi+sim://st33ktpm?platfrom=0", "unknown (option|parameter) .?platfrom"),
    ("spi+sim://st33ktpm?owner_auth=xyz", "owner_auth must be hex"),
    ("i2c+sim://slb9673?faults=retry:2", "not a probability"),
])
def test_bad_options_are_one_clear_error(uri, message):
    with pytest.raises(TargetURIError, match=message):
        open_target(uri)


def test_pcr_banks_are_the_parts(slb):
    _, data = slb.esapi.get_capability(TPM2_CAP.PCRS, 0, 8)
    banks = {int(s.hash) for s in data.data.assignedPCR}
    assert banks == {int(TPM2_ALG.SHA1), int(TPM2_ALG.SHA256), int(TPM2_ALG.SHA384)}


def test_digest_sized_buffers_follow_the_parts_max_digest(st33):
    """TPM2B_AUTH holds a TPMU_HA of the part (SHA-384: 48 bytes), not swtpm's 64."""
    session = struct.pack(">IHBH", 0x40000009, 0, 0, 0)
    body = struct.pack(">II", 0x40000001, len(session)) + session + struct.pack(">H", 49) + b"a" * 49
    command = build_command(0x129, body, tag=0x8002)                 # HierarchyChangeAuth
    assert int.from_bytes(st33.transport.exchange(command)[6:10], "big") == 0x095 | 0x040 | 0x100
    assert len(st33.esapi.get_random(64)) == 48                      # GetRandom capped (Part 3 §16.1)


def test_unknown_tag_is_bad_tag(st33):
    command = struct.pack(">HII", 0x8003, 12, 0x17B) + b"\x00\x08"
    assert int.from_bytes(st33.transport.exchange(command)[6:10], "big") == 0x01E


def test_hash_the_part_lacks_is_refused(st33):
    sha512 = int(TPM2_ALG.SHA512)
    pcr_read = struct.pack(">IHB3s", 1, sha512, 3, b"\x01\x00\x00")
    assert raw_rc(st33.transport, 0x17E, pcr_read) == 0x083 | 0x040 | 0x100     # HASH, P1
    hash_body = struct.pack(">H", 3) + b"abc" + struct.pack(">HI", sha512, 0x40000007)
    assert raw_rc(st33.transport, 0x17D, hash_body) == 0x083 | 0x040 | 0x200    # HASH, P2
    hash_body = struct.pack(">H", 3) + b"abc" + struct.pack(">HI", int(TPM2_ALG.SHA384), 0x40000007)
    assert raw_rc(st33.transport, 0x17D, hash_body) == 0


def test_encrypted_in_sensitive_is_not_read_as_clear_text(st33):
    """With a decrypt session the inSensitive buffer is ciphertext: the part cannot
    (and the personality does not) judge its userAuth size before decryption."""
    from tpm2_pytss.constants import TPM2_SE, TPMA_SESSION
    from tpm2_pytss.types import TPM2B_SENSITIVE_CREATE, TPMT_SYM_DEF

    sym = TPMT_SYM_DEF(algorithm=TPM2_ALG.AES)
    sym.keyBits.aes = 128
    sym.mode.aes = TPM2_ALG.CFB
    session = st33.esapi.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.HMAC, sym,
                                            TPM2_ALG.SHA256)
    st33.esapi.trsess_set_attributes(session, TPMA_SESSION.DECRYPT | TPMA_SESSION.CONTINUESESSION)
    try:
        for i in range(8):
            sensitive = TPM2B_SENSITIVE_CREATE()
            sensitive.sensitive.userAuth = bytes([i]) * 32
            handle = st33.esapi.create_primary(sensitive, TPM2B_PUBLIC.parse(
                ECC_P256, objectAttributes=ATTRS), session1=session)[0]
            st33.esapi.flush_context(handle)
    finally:
        st33.esapi.flush_context(session)


def test_audit_list_follows_set_command_code_audit_status(st33):
    from tpm2_pytss.types import TPML_CC

    def audited():
        _, data = st33.esapi.get_capability(TPM2_CAP.AUDIT_COMMANDS, 0, 64)
        return [int(c) for c in data.data.auditCommands]

    before = audited()
    st33.esapi.set_command_code_audit_status(TPM2_ALG.NULL, TPML_CC([0x17B]), TPML_CC())
    try:
        assert 0x17B in audited() and 0x17B not in before
    finally:
        st33.esapi.set_command_code_audit_status(TPM2_ALG.NULL, TPML_CC(), TPML_CC([0x17B]))
    assert audited() == before


def test_schemes_and_symmetric_algorithms_the_part_lacks(st33):
    # TestParms(TPMT_PUBLIC_PARMS symcipher CAMELLIA-128-CFB): TPMI_ALG_SYM_OBJECT -> SYMMETRIC, P1
    parms = struct.pack(">HHHH", 0x25, int(TPM2_ALG.CAMELLIA), 128, int(TPM2_ALG.CFB))
    assert raw_rc(st33.transport, 0x18A, parms) == 0x096 | 0x040 | 0x100
    parms = struct.pack(">HHHH", 0x25, int(TPM2_ALG.AES), 128, int(TPM2_ALG.CFB))
    assert raw_rc(st33.transport, 0x18A, parms) == 0
    # An ECDAA signing key: TPMI_ALG_ECC_SCHEME -> SCHEME, parameter 2 (inPublic)
    template = TPM2B_PUBLIC.parse(ECC_P256, objectAttributes=ATTRS)
    template.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG.ECDAA
    template.publicArea.parameters.eccDetail.scheme.details.ecdaa.hashAlg = TPM2_ALG.SHA256
    with ExpectRC(0x092 | 0x040 | 0x200):
        st33.esapi.create_primary(None, template)


def test_tpmhil_probe_shows_the_part_and_its_vendor_commands():
    import json
    import subprocess
    import sys

    uri = "i2c+sim://slb9673?owner_auth=c0ffee00"
    done = subprocess.run([sys.executable, "-m", "harness.cli.main", "probe", "--tpm", uri, "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(done.stdout)
    assert (data["manufacturer"], data["vendor"], data["profile"]) == ("IFX", "SLB9673", "slb9673")
    assert data["vendor_commands"] == [f"0x{c:08x}" for c in range(0x2000012F, 0x20000134)]
    assert all(not c.startswith("TPM2_CC_0x") for c in data["commands"])
    assert "c0ffee00" not in done.stdout + done.stderr
    text = subprocess.run([sys.executable, "-m", "harness.cli.main", "probe", "--tpm",
                           "spi+sim://st33ktpm"], capture_output=True, text=True, timeout=120)
    assert "vendor commands  0x20000307" in text.stdout and "STM" in text.stdout
