"""Profile conformance: what the chip reports (TPM2_GetCapability, TPM 2.0
Part 3 §30.2) against what its chip profile promises — identity, algorithms,
curves, RSA key sizes (TPM2_TestParms §10.4), PCR banks, NV size, the FIPS
mode indicator, EK certificates — and command latency (median and worst of
repeated runs) within the profile's ``latency_ms``."""

import statistics

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_RH, TPM2_ST
from tpm2_pytss.types import (
    TPM2B_PUBLIC, TPML_PCR_SELECTION, TPMT_PUBLIC_PARMS, TPMT_SIG_SCHEME, TPMT_TK_HASHCHECK,
)

from harness.tpm.names import command_code

pytestmark = [pytest.mark.conformance]
REQ = ("IEC62443-4-2:CR 3.3", "IEC62443-4-2:CR 4.3")
LATENCY_RUNS = 11


@pytest.mark.spec("TPM 2.0 Part 3 §30.2 GetCapability(TPM_PT_MANUFACTURER, VENDOR_STRING, "
                  "FAMILY_INDICATOR, REVISION)")
@pytest.mark.requirement("IEC62443-4-2:CR 1.2", *REQ)
def test_identity_matches_profile(identity, chip):
    assert chip.matches(identity.manufacturer, identity.vendor), (
        f"chip reports {identity.manufacturer!r}/{identity.vendor!r}, profile {chip.name} "
        f"expects {chip.manufacturer!r} {list(chip.vendor_strings)}")
    assert identity.family == chip.family
    assert identity.spec_revision / 100 >= chip.spec_revision_min


@pytest.mark.spec("TPM 2.0 Part 3 §30.2 GetCapability(TPM_CAP_ALGS, TPM_CAP_ECC_CURVES, "
                  "TPM_CAP_PCRS)")
@pytest.mark.requirement("FIPS140-3:approved-algorithms", *REQ)
def test_algorithms_curves_banks(identity, chip):
    assert not set(chip.algorithms) - set(identity.algorithms), \
        f"missing algorithms: {sorted(set(chip.algorithms) - set(identity.algorithms))}"
    assert not set(chip.ecc_curves) - set(identity.ecc_curves), \
        f"missing curves: {sorted(set(chip.ecc_curves) - set(identity.ecc_curves))}"
    assert not set(chip.pcr_banks) - set(identity.pcr_banks), \
        f"missing PCR banks: {sorted(set(chip.pcr_banks) - set(identity.pcr_banks))}"


@pytest.mark.spec("TPM 2.0 Part 3 §10.4 TPM2_TestParms for each RSA key size in the profile")
@pytest.mark.requirement("FIPS140-3:approved-algorithms", *REQ)
@pytest.mark.needs("cc:TPM2_TestParms")
def test_rsa_key_sizes(tpm, chip):
    if not chip.rsa_key_sizes:
        pytest.skip(f"profile {chip.name} lists no RSA key sizes")
    for bits in chip.rsa_key_sizes:
        parms = TPMT_PUBLIC_PARMS(type=TPM2_ALG.RSA)
        parms.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG.NULL
        parms.parameters.rsaDetail.scheme.scheme = TPM2_ALG.NULL
        parms.parameters.rsaDetail.keyBits = bits
        tpm.test_parms(parms)


@pytest.mark.spec("TPM 2.0 Part 3 §30.2 TPM_PT_NV_INDEX_MAX, TPM_PT_MODES (FIPS_140_2 bit); "
                  "TCG EK Credential Profile §2.2.1.4 EK certificate indices")
@pytest.mark.requirement("FIPS140-3:approved-mode", "IEC62443-4-2:EDR 3.12", *REQ)
def test_nv_fips_and_ek_certificates(identity, chip):
    assert identity.nv_index_max >= chip.nv_index_max_min
    if chip.fips_mode is not None:
        assert identity.fips_mode == chip.fips_mode, (
            f"FIPS mode indicator is {identity.fips_mode}, profile {chip.name} expects "
            f"{chip.fips_mode}")
    present = {int(h, 16) if isinstance(h, str) else int(h) for h in identity.ek_certificates}
    missing = [f"0x{h:08x}" for h in chip.ek_certificates if h not in present]
    assert not missing, f"EK certificate NV indices missing: {missing}"


def _latency_action(tpm, command: str, caps):
    if command == "TPM2_GetRandom":
        return lambda: tpm.get_random(32)
    if command == "TPM2_PCR_Read":
        sel = TPML_PCR_SELECTION.parse("sha256:0,1,2,3")
        return lambda: tpm.pcr_read(sel)
    if command == "TPM2_Sign":
        key, _, _, _, _ = tpm.create_primary(None, TPM2B_PUBLIC.parse(
            "ecc256:ecdsa-sha256:null", objectAttributes="userwithauth|sign|fixedtpm|"
            "fixedparent|sensitivedataorigin"), ESYS_TR.OWNER)
        scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.ECDSA)
        scheme.details.any.hashAlg = TPM2_ALG.SHA256
        ticket = TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)
        return lambda: tpm.sign(key, bytes(32), scheme, ticket)
    if command == "TPM2_Hash":
        data = b"x" * min(1024, caps.input_buffer)  # a full TPM2B_MAX_BUFFER of this chip
        return lambda: tpm.hash(data, TPM2_ALG.SHA256, ESYS_TR.OWNER)
    return None


@pytest.mark.spec("Chip profile latency_ms: median and worst of repeated runs, measured by the "
                  "transport (command sent to response received)")
@pytest.mark.requirement("IEC62443-4-2:CR 7.1", *REQ)
@pytest.mark.needs("hierarchy:owner")
def test_command_latency_within_profile(tpm, chip, caps, tpm_log, request):
    if not chip.latency_ms:
        pytest.skip(f"profile {chip.name} sets no latency limits")
    report, failures = [], []
    for command, limits in sorted(chip.latency_ms.items()):
        action = _latency_action(tpm, command, caps)
        if action is None:
            failures.append(f"{command}: no latency driver for this command")
            continue
        code = command_code(command)
        start = len(tpm_log)
        for _ in range(LATENCY_RUNS):
            action()
        ms = [r.duration_s * 1000 for r in tpm_log.peek()[start:]
              if r.command_code == code and r.rc == 0]
        assert len(ms) == LATENCY_RUNS, f"{command}: {len(ms)} timed exchanges"
        median, worst = statistics.median(ms), max(ms)
        report.append(f"{command}: median {median:.2f} ms (<= {limits.get('median')}), "
                      f"worst {worst:.2f} ms (<= {limits.get('worst')})")
        if "median" in limits and median > limits["median"]:
            failures.append(f"{command}: median {median:.2f} ms > {limits['median']} ms")
        if "worst" in limits and worst > limits["worst"]:
            failures.append(f"{command}: worst {worst:.2f} ms > {limits['worst']} ms")
    print("\n".join(report))
    assert not failures, "; ".join(failures)


@pytest.mark.verifies("GetCapability")
@pytest.mark.spec("TPM 2.0 Part 3 §30.2 GetCapability; Part 2 §6.13 TPM_PT_TOTAL_COMMANDS = "
                  "LIBRARY_COMMANDS + VENDOR_COMMANDS, counted in TPM_CAP_COMMANDS; one property "
                  "asked alone equals the same property in the full listing")
@pytest.mark.requirement(*REQ)
def test_capability_answers_are_consistent(tpm, caps):
    from tpm2_pytss.constants import TPM2_CAP

    from harness.tpm import properties as PT
    from harness.tpm.capabilities import list_command_attributes

    attrs = list_command_attributes(tpm)  # paged afresh in this test
    library = [c for c in attrs if not c & 0x20000000]
    vendor = [c for c in attrs if c & 0x20000000]
    assert caps.prop(PT.LIBRARY_COMMANDS) == len(library), (caps.prop(PT.LIBRARY_COMMANDS),
                                                            len(library))
    assert caps.prop(PT.VENDOR_COMMANDS) == len(vendor)
    assert caps.prop(PT.TOTAL_COMMANDS) == len(library) + len(vendor)
    for pt in (PT.MAX_COMMAND_SIZE, PT.INPUT_BUFFER, PT.NV_BUFFER_MAX, PT.PCR_COUNT):
        more, data = tpm.get_capability(TPM2_CAP.TPM_PROPERTIES, pt, 1)
        prop = data.data.tpmProperties[0]
        assert (int(prop.property), int(prop.value)) == (pt, caps.prop(pt))
    assert caps.max_command_size >= caps.input_buffer and caps.max_response_size > 0
