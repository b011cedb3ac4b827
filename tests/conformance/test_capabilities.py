"""harness.tpm.capabilities: need strings, skip reasons, and a probe of a real swtpm."""

import pytest

from tpm_hil_fixtures.hierarchy_auth import AuthValueError, HierarchyAuth, from_options, parse_auth
from harness.tpm import properties as PT
from harness.tpm.capabilities import (Capabilities, NeedError, check_need,
                                      probe_capabilities)


def _caps(**over) -> Capabilities:
    base = dict(
        commands=frozenset({"TPM2_GetRandom", "TPM2_Sign"}),
        command_codes=frozenset({0x17B, 0x15D}),
        vendor_commands=frozenset({0x20000001}),
        algorithms=frozenset({"rsa", "ecc", "sha256"}),
        curves=frozenset({"nist_p256"}),
        banks={"sha256": 24, "sha1": 0},
        properties={PT.NV_COUNTERS_MAX: 0, PT.MAX_COMMAND_SIZE: 0x710,
                    PT.PERMANENT: 0b001, PT.STARTUP_CLEAR: 0b110},
        rsa_sizes=frozenset({2048}),
    )
    base.update(over)
    return Capabilities(**base)


def test_missing_names_each_lacking_capability():
    caps = _caps()
    assert caps.missing("cc:TPM2_GetRandom", "alg:rsa", "curve:nist_p256", "bank:sha256",
                        "rsa:2048", "hierarchy:endorsement", "hierarchy:lockout") == []
    assert caps.missing("cc:TPM2_Commit") == ["chip lacks TPM2_Commit (TPM_CAP_COMMANDS)"]
    assert caps.missing("cc:Commit") == ["chip lacks TPM2_Commit (TPM_CAP_COMMANDS)"]
    assert "ecdaa (TPM_CAP_ALGS)" in caps.missing("alg:ecdaa")[0]
    assert "bn_p256 (TPM_CAP_ECC_CURVES)" in caps.missing("curve:bn_p256")[0]
    assert "sha1 PCR bank" in caps.missing("bank:sha1")[0]  # listed with no PCRs
    assert "RSA 3072-bit" in caps.missing("rsa:3072")[0]
    assert caps.missing("hierarchy:platform") == [
        "platform hierarchy disabled (TPM_PT_STARTUP_CLEAR phEnable=0)"]
    owner = caps.missing("hierarchy:owner")[0]
    assert "owner auth is set" in owner and "--owner-auth" in owner
    assert caps.missing("pt:nv_counters_max>=1") == [
        "chip has TPM_PT_NV_COUNTERS_MAX 0, test needs >=1 (TPM_CAP_TPM_PROPERTIES)"]
    assert caps.missing("pt:max_command_size=1024") == []
    assert "not reported" in caps.missing("pt:nv_index_max>=1")[0]
    assert caps.max_command_size == 0x710 and caps.input_buffer == 0


def test_given_auth_makes_a_hierarchy_usable():
    assert _caps(auth_given=frozenset({"owner"})).missing("hierarchy:owner") == []


def test_vendor_commands_never_satisfy_a_need():
    caps = _caps()
    assert not caps.has_command(0x00000001) and 0x20000001 in caps.vendor_commands


def test_require_skips_with_every_reason():
    with pytest.raises(pytest.skip.Exception, match="TPM2_Commit.*ecdaa"):
        _caps().require("cc:TPM2_Commit", "alg:ecdaa", "alg:rsa")


@pytest.mark.parametrize("bad", ["TPM2_Commit", "cc:TPM2_NoSuch", "rsa:big", "hierarchy:null",
                                 "alg:ecdas", "bank:sha257", "curve:nist_p255",
                                 "pt:no_such>=1", "pt:nv_counters_max", "colour:red"])
def test_malformed_needs_are_errors(bad):
    with pytest.raises(NeedError):
        check_need(bad)
    with pytest.raises(NeedError):
        _caps().missing(bad)


def test_auth_values_parse_and_never_show(monkeypatch):
    assert parse_auth("hex:00ff", "x") == b"\x00\xff"
    assert parse_auth("s3cret", "x") == b"s3cret"
    with pytest.raises(AuthValueError, match="--owner-auth") as err:
        parse_auth("hex:zz-secret", "--owner-auth")
    assert "zz-secret" not in str(err.value)

    class Opt:
        owner_auth = "hex:0102"
        endorsement_auth = None
        lockout_auth = None

    auth = from_options(Opt(), {"TPMHIL_LOCKOUT_AUTH": "lock", "TPMHIL_OWNER_AUTH": "ignored"})
    assert dict(auth) == {"owner": b"\x01\x02", "lockout": b"lock"}
    assert "lock" not in repr(auth).replace("lockout", "") and "0102" not in repr(auth)
    assert HierarchyAuth().get_auth("owner") == b""


@pytest.fixture(scope="module")
def swtpm():
    from harness.swtpm_process import SwtpmProcess

    proc = SwtpmProcess()
    yield proc
    proc.stop()


def test_probe_of_a_real_swtpm(swtpm):
    from harness.tpm.startup import ensure_started
    from harness.transports.swtpm import SwtpmTransport
    from harness.transports.tcti import open_esapi

    transport = SwtpmTransport("127.0.0.1", swtpm.port)
    esapi = open_esapi(transport)
    try:
        ensure_started(esapi)
        caps = probe_capabilities(esapi, auth_given={"owner"})
    finally:
        esapi.close()
        transport.close()
    assert "TPM2_GetRandom" in caps.commands and len(caps.commands) > 90
    assert all(c < 0x20000000 for c in caps.command_codes)
    assert caps.max_command_size == 4096 and caps.input_buffer == 1024
    assert caps.nv_buffer_max > 0 and caps.max_digest in (48, 64)
    assert {"rsa", "ecc", "sha256"} <= caps.algorithms and "nist_p256" in caps.curves
    assert 2048 in caps.rsa_sizes and 128 in caps.aes_sizes
    assert caps.banks.get("sha256") == 24
    assert caps.platform_enabled and caps.owner_enabled and not caps.owner_auth_set
    assert caps.missing("hierarchy:platform", "hierarchy:owner") == []
    assert caps.to_dict()["auth_given"] == ["owner"]
