"""AK enrollment through the EK, the way attestation servers do it.

Chip side (TPM 2.0 Part 3): CreatePrimary of the EK in the endorsement
hierarchy with the TCG default template (TCG EK Credential Profile §2.2.1;
the template is read from NV when the manufacturer provisioned one); Create
and Load of a restricted signing AK as the EK's child, each authorized by a
policy session satisfying the EK's authPolicy (PolicySecret(TPM_RH_ENDORSEMENT),
ORed with PolicyAuthorizeNV for the high-range templates, see
:mod:`harness.attest.ek_policy`); ActivateCredential.

Verifier side (software only): take the EK public key from the EK
certificate (chain-checked against CA certificates when given), check that
the chip's EK is that key, check the AK's attributes, compute the AK name,
run :func:`harness.attest.credential.make_credential`, and accept the AK only
when ActivateCredential gives the secret back.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tpm2_pytss import TSS2_Exception
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPMA_OBJECT
from tpm2_pytss.types import TPM2B_ENCRYPTED_SECRET, TPM2B_ID_OBJECT, TPM2B_PUBLIC, TPMT_PUBLIC
from tpm2_pytss.utils import NVReadEK, create_ek_template

from harness.attest.credential import make_credential, qualified_name
from harness.attest.ek_policy import ek_policy_session
from harness.errors import HarnessError
from harness.reference.hashes import alg_name

TPM_RH_ENDORSEMENT = 0x4000000B
# --ek choices -> TCG EK Credential Profile templates (L-1, L-2, H-3) and certificate indices
EK_TYPES = {"rsa": "EK-RSA2048", "ecc": "EK-ECC256", "ecc384": "EK-HIGH-ECC384"}
EK_CERT_INDEX = {"rsa": 0x01C00002, "ecc": 0x01C0000A, "ecc384": 0x01C00016}
# noDA: the AK has an empty authValue, so dictionary-attack protection adds nothing and
# would make attestation fail on a board whose DA counter is locked out for other reasons.
AK_ATTRIBUTES = (TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN
                 | TPMA_OBJECT.USERWITHAUTH | TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.SIGN_ENCRYPT
                 | TPMA_OBJECT.NODA)
AK_TEMPLATES = {"rsa": "rsa2048:rsassa-sha256:null", "ecc": "ecc256:ecdsa-sha256:null"}


class EnrollmentError(HarnessError):
    """The AK could not be enrolled, or the verifier refused it."""


@dataclass
class Enrollment:
    """What enrollment produced (handles are transient: call :meth:`flush`)."""

    ek_handle: ESYS_TR
    ek_public: TPM2B_PUBLIC
    ek_certificate: x509.Certificate | None
    ak_handle: ESYS_TR | None = None
    ak_public: TPM2B_PUBLIC | None = None
    ak_name: bytes = b""
    ak_qualified_name: bytes = b""
    activated: bool = False
    checks: list[str] = field(default_factory=list)

    def ak_key(self):
        """The AK public key as a ``cryptography`` object."""
        return serialization.load_pem_public_key(self.ak_public.publicArea.to_pem())

    def ak_pem(self) -> bytes:
        return bytes(self.ak_public.publicArea.to_pem())

    def flush(self, esapi) -> None:
        for handle in (self.ak_handle, self.ek_handle):
            if handle is not None:
                try:
                    esapi.flush_context(handle)
                except TSS2_Exception:
                    pass
        self.ak_handle = None


def _ek_session(esapi, enrollment: "Enrollment") -> ESYS_TR:
    """A policy session satisfying the EK's authPolicy (see :mod:`ek_policy`)."""
    area = enrollment.ek_public.publicArea
    return ek_policy_session(esapi, alg_name(int(area.nameAlg)), bytes(area.authPolicy))


def _flush_quietly(esapi, handle: ESYS_TR) -> None:
    try:
        esapi.flush_context(handle)
    except TSS2_Exception:
        pass  # a session without continueSession is gone after its command


def load_ca_certificates(paths: list[str | Path]) -> list[x509.Certificate]:
    certs = []
    for p in paths:
        try:
            data = Path(p).read_bytes()
        except OSError as exc:
            raise EnrollmentError(f"CA certificate {p}: cannot read: {exc.strerror}") from exc
        try:
            certs.extend(x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data
                         else [x509.load_der_x509_certificate(data)])
        except ValueError as exc:
            raise EnrollmentError(f"CA certificate {p}: not a PEM/DER certificate: {exc}") \
                from exc
    return certs


def roots_hint(cas: list[x509.Certificate]) -> str:
    """Which roots were tried, and how to name the right one (an external swtpm's or a
    vendor's EK root is not the harness's local CA, whatever its name)."""
    names = sorted({c.subject.rfc4514_string() or "(empty subject)" for c in cas})
    tried = (f"roots tried: {', '.join(names)} ({len(cas)} certificate"
             f"{'' if len(cas) == 1 else 's'})") if cas else "no roots were given"
    return f"{tried}; --ek-ca FILE or $TPMHIL_EK_ROOTS names the chip vendor's EK root"


def verify_chain(cert: x509.Certificate, cas: list[x509.Certificate]) -> str:
    """Check ``cert`` chains to a self-signed CA in ``cas`` (:func:`harness.ek.verify_chain`:
    RFC 5280 path validation, CA constraints included)."""
    from harness.ek import EkChainError
    from harness.ek import verify_chain as verify_ek_chain

    if not any(c.subject == cert.issuer for c in cas):
        raise EnrollmentError(f"EK certificate chain: no CA certificate for issuer "
                              f"'{cert.issuer.rfc4514_string()}'; {roots_hint(cas)}")
    try:
        chain = verify_ek_chain(cert, cas)
    except EkChainError as exc:
        raise EnrollmentError(f"EK certificate chain: '{cert.subject.rfc4514_string()}' is not "
                              f"validly signed up to a trusted CA ({exc}); {roots_hint(cas)}") from exc
    return " -> ".join(c.subject.rfc4514_string() for c in chain[1:])


def _same_key(cert_key, chip_key) -> bool:
    if isinstance(cert_key, rsa.RSAPublicKey) and isinstance(chip_key, rsa.RSAPublicKey):
        return cert_key.public_numbers() == chip_key.public_numbers()
    if isinstance(cert_key, ec.EllipticCurvePublicKey) and \
            isinstance(chip_key, ec.EllipticCurvePublicKey):
        return cert_key.public_numbers() == chip_key.public_numbers()
    return False


def create_ek(esapi, ek_type: str = "rsa") -> Enrollment:
    """CreatePrimary of the EK with the TCG default template; read its certificate."""
    if ek_type not in EK_TYPES:
        raise EnrollmentError(f"EK type must be one of {', '.join(EK_TYPES)}, got {ek_type!r}")
    try:
        cert_der, template = create_ek_template(EK_TYPES[ek_type], NVReadEK(esapi))
    except ValueError as exc:  # high-range templates need their certificate
        raise EnrollmentError(f"{ek_type.upper()} EK: no certificate at NV index "
                              f"0x{EK_CERT_INDEX[ek_type]:08x} ({exc})") from exc
    handle, public, _cd, _ch, _tk = esapi.create_primary(None, template, ESYS_TR.ENDORSEMENT)
    cert = None
    if cert_der:
        try:
            cert = x509.load_der_x509_certificate(bytes(cert_der))
        except ValueError as exc:
            esapi.flush_context(handle)
            raise EnrollmentError(f"EK certificate in NV is not valid DER: {exc}") from exc
    return Enrollment(ek_handle=handle, ek_public=public, ek_certificate=cert)


def create_ak(esapi, enrollment: Enrollment, ak_type: str = "rsa") -> None:
    """Create and Load a restricted signing AK as a child of the EK."""
    template = TPM2B_PUBLIC(publicArea=TPMT_PUBLIC.parse(AK_TEMPLATES[ak_type],
                                                          objectAttributes=AK_ATTRIBUTES))
    session = _ek_session(esapi, enrollment)
    try:
        private, public, _cd, _ch, _tk = esapi.create(enrollment.ek_handle, None, template,
                                                       session1=session)
    finally:
        _flush_quietly(esapi, session)
    session = _ek_session(esapi, enrollment)
    try:
        enrollment.ak_handle = esapi.load(enrollment.ek_handle, private, public, session1=session)
    finally:
        _flush_quietly(esapi, session)
    enrollment.ak_public = public


def verify_ak_attributes(public: TPM2B_PUBLIC) -> None:
    """The verifier's checks on the AK public area before trusting it."""
    attrs = public.publicArea.objectAttributes
    required = {"fixedTPM": TPMA_OBJECT.FIXEDTPM, "fixedParent": TPMA_OBJECT.FIXEDPARENT,
                "sensitiveDataOrigin": TPMA_OBJECT.SENSITIVEDATAORIGIN,
                "restricted": TPMA_OBJECT.RESTRICTED, "sign": TPMA_OBJECT.SIGN_ENCRYPT}
    missing = [name for name, bit in required.items() if not attrs & bit]
    if missing:
        raise EnrollmentError(f"AK is not an attestation key: attribute(s) {', '.join(missing)} "
                              "not set")
    if attrs & TPMA_OBJECT.DECRYPT:
        raise EnrollmentError("AK has the decrypt attribute: an attestation key must only sign")


def ek_key_for_credential(enrollment: Enrollment, ca_certs: list[x509.Certificate] | None,
                          require_certificate: bool = True, ek_type: str = "rsa"):
    """The EK public key the verifier encrypts to: the certificate's, checked against the chip."""
    chip_key = serialization.load_pem_public_key(enrollment.ek_public.publicArea.to_pem())
    cert = enrollment.ek_certificate
    if cert is None:
        if require_certificate:
            raise EnrollmentError(f"the chip holds no {ek_type.upper()} EK certificate at NV "
                                  f"index 0x{EK_CERT_INDEX[ek_type]:08x} (TCG EK Credential "
                                  "Profile), so the EK cannot be tied to a manufacturer "
                                  "(--allow-uncertified-ek accepts it anyway)")
        enrollment.checks.append("EK certificate: none; EK public taken from the chip "
                                 "(NOT certified)")
        return chip_key
    if ca_certs:
        enrollment.checks.append(f"EK certificate chain: {verify_chain(cert, ca_certs)}")
    else:
        enrollment.checks.append("EK certificate chain: not checked (no CA certificates given)")
    cert_key = cert.public_key()
    if not _same_key(cert_key, chip_key):
        raise EnrollmentError("the EK created with the TCG default template is not the key in "
                              "the EK certificate")
    enrollment.checks.append(f"EK certificate '{cert.subject.rfc4514_string() or '(empty)'}' "
                             "matches the chip's EK")
    return cert_key


def activate(esapi, enrollment: Enrollment, ek_key) -> None:
    """MakeCredential in software, ActivateCredential on the chip, compare the secret."""
    verify_ak_attributes(enrollment.ak_public)
    area = enrollment.ak_public.publicArea
    name_alg = alg_name(int(area.nameAlg))
    enrollment.ak_name = bytes(area.get_name())
    chip_name = bytes(esapi.tr_get_name(enrollment.ak_handle))
    if chip_name != enrollment.ak_name:
        raise EnrollmentError(f"AK name computed in software {enrollment.ak_name.hex()} differs "
                              f"from the TSS's {chip_name.hex()}")
    ek_area = enrollment.ek_public.publicArea
    ek_name_alg = alg_name(int(ek_area.nameAlg))
    ek_qn = qualified_name(ek_name_alg, TPM_RH_ENDORSEMENT.to_bytes(4, "big"),
                           bytes(ek_area.get_name()))
    enrollment.ak_qualified_name = qualified_name(name_alg, ek_qn, enrollment.ak_name)
    if int(ek_area.type) == int(TPM2_ALG.RSA):
        sym_bits = int(ek_area.parameters.rsaDetail.symmetric.keyBits.aes)
    else:
        sym_bits = int(ek_area.parameters.eccDetail.symmetric.keyBits.aes)
    secret = os.urandom(32 if ek_name_alg != "sha1" else 20)
    blob, encrypted = make_credential(ek_key, ek_name_alg, sym_bits, enrollment.ak_name, secret)
    id_object, _ = TPM2B_ID_OBJECT.unmarshal(len(blob).to_bytes(2, "big") + blob)
    session = _ek_session(esapi, enrollment)
    try:
        recovered = esapi.activate_credential(enrollment.ak_handle, enrollment.ek_handle,
                                              id_object, TPM2B_ENCRYPTED_SECRET(encrypted),
                                              session2=session)
    except TSS2_Exception as exc:
        raise EnrollmentError(f"ActivateCredential refused the software-made credential: "
                              f"{exc}") from exc
    finally:
        _flush_quietly(esapi, session)
    if not hmac.compare_digest(bytes(recovered), secret):
        raise EnrollmentError("ActivateCredential returned a different secret: the AK is not "
                              "accepted")
    enrollment.activated = True
    enrollment.checks.append(f"ActivateCredential returned the {len(secret)}-byte secret: AK "
                             f"{enrollment.ak_name.hex()[:20]}... is in the same TPM as the EK")


def enroll(esapi, ek_type: str = "rsa", ca_certs: list[x509.Certificate] | None = None,
           require_certificate: bool = True) -> Enrollment:
    """The whole enrollment; on failure the transient objects are flushed.

    Raises:
        EnrollmentError: the verifier does not accept the AK, naming why.
    """
    enrollment = create_ek(esapi, ek_type)
    try:
        ek_key = ek_key_for_credential(enrollment, ca_certs, require_certificate, ek_type)
        create_ak(esapi, enrollment, "rsa")
        activate(esapi, enrollment, ek_key)
    except BaseException:
        enrollment.flush(esapi)
        raise
    return enrollment
