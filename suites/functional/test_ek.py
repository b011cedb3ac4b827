"""EK certificates read from NV and chained to the issuing CA (TCG EK
Credential Profile §2.2.1.4, §3); the RSA EK regenerated from template L-1
equals the certified key."""

import pytest
from cryptography.hazmat.primitives import serialization
from tpm2_pytss.constants import ESYS_TR
from tpm2_pytss.types import TPM2B_PUBLIC

from harness import ek
from harness.swtpm_process import ca_root_certificates
from harness.tpm.software import public_key

pytestmark = [pytest.mark.functional]


@pytest.fixture(scope="module")
def roots(tpm_target):
    pool = ek.trusted_roots()
    if ek.harness_ca_trusted(tpm_target):
        for path in ca_root_certificates():
            pool.extend(ek.x509.load_pem_x509_certificates(path.read_bytes()))
    if not pool:
        pytest.skip(f"no trusted EK roots: put the vendor's CA certificates in a folder and set "
                    f"{ek.ROOTS_ENV}")
    return pool


@pytest.mark.spec("TCG EK Credential Profile §3: EK certificate chain")
@pytest.mark.requirement("IEC62443-4-2:CR 1.2", "IEC62443-4-2:CR 1.8", "IEC62443-4-2:EDR 3.12")
def test_every_ek_certificate_chains_to_a_trusted_root(tpm, identity, caps, chip, roots):
    if not identity.ek_certificates and not chip.ek_certificates:
        pytest.skip(f"chip carries no EK certificate in NV (EK Credential Profile §2.2.1.4 "
                    f"indices) and profile {chip.name} promises none")
    assert identity.ek_certificates, \
        f"the chip carries no EK certificate in NV; profile {chip.name} promises " \
        f"{', '.join(f'0x{i:08x}' for i in chip.ek_certificates)}"
    for index in identity.ek_certificates:
        cert = ek.load_certificate(ek.read_nv(tpm, int(index, 16), chunk=caps.nv_buffer_max))
        chain = ek.verify_chain(cert, roots)
        assert len(chain) >= 2, f"EK certificate {index} is self-signed"


@pytest.mark.spec("TCG EK Credential Profile Annex B template L-1")
@pytest.mark.requirement("IEC62443-4-2:CR 1.2", "IEC62443-4-2:CR 1.9")
@pytest.mark.needs("hierarchy:endorsement", "alg:rsa", "rsa:2048", "alg:aes", "alg:cfb")
def test_rsa_ek_from_template_matches_certificate(tpm, identity, caps):
    if "0x01c00002" not in identity.ek_certificates:
        pytest.skip("no RSA 2048 EK certificate at 0x01C00002")
    cert = ek.load_certificate(ek.read_nv(tpm, 0x01C00002, chunk=caps.nv_buffer_max))
    template = TPM2B_PUBLIC.parse("rsa2048:aes128cfb", objectAttributes=ek.EK_RSA2048_ATTRS)
    template.publicArea.authPolicy = ek.EK_RSA2048_POLICY
    template.publicArea.unique.rsa = bytes(256)
    handle, out_public, _, _, _ = tpm.create_primary(None, template, ESYS_TR.ENDORSEMENT)
    assert public_key(out_public).public_numbers() == cert.public_key().public_numbers(), \
        "EK certificate's key is not the EK derived from template L-1"


@pytest.mark.negative
@pytest.mark.requirement("IEC62443-4-2:CR 1.8")
def test_tampered_ek_certificate_fails_the_chain(tpm, identity, caps, roots):
    index = sorted(identity.ek_certificates)[0] if identity.ek_certificates else None
    if index is None:
        pytest.skip("no EK certificate")
    cert = ek.load_certificate(ek.read_nv(tpm, int(index, 16), chunk=caps.nv_buffer_max))
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    # Flip one bit of the signature (the certificate's last byte): the DER still
    # parses, the signature no longer verifies.
    der[-1] ^= 0x01
    tampered = ek.load_certificate(bytes(der))
    assert tampered.signature != cert.signature
    with pytest.raises(ek.EkChainError, match="does not verify"):
        ek.verify_chain(tampered, roots)
