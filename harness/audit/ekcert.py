"""EK certificates held to the TCG EK Credential Profile for TPM Family 2.0.

For every EK certificate in NV (EK Credential Profile §2.2.1.4/§2.2.1.5
indices) this checks: the subject alternative name carries the TPM
manufacturer, model and version (OIDs 2.23.133.2.1/.2/.3, §3.2.9), the key
usage (keyEncipherment for RSA, keyAgreement for ECC, §3.2.7), the key
strength (RSA >= 2048 bits, ECC >= P-256), the validity period, that the
certificate's key is the EK the chip derives from the profile's template
(TPM2_CreatePrimary under TPM_RH_ENDORSEMENT, §2.1.5), and that the
certificate chains to a trusted root from a folder the lab supplies
(:func:`harness.ek.verify_chain`: RFC 5280 path validation by
cryptography.x509.verification; an intermediate without cA=TRUE breaks it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ObjectIdentifier

from harness.ek import load_trust_roots  # noqa: F401 (the audit's and the suites' entry point)
from harness.errors import HarnessError

OID_TPM_MANUFACTURER = ObjectIdentifier("2.23.133.2.1")
OID_TPM_MODEL = ObjectIdentifier("2.23.133.2.2")
OID_TPM_VERSION = ObjectIdentifier("2.23.133.2.3")

#: EK certificate NV index -> tpm2-pytss EK template name (EK Credential Profile §2.2.1).
EK_KINDS = {
    0x01C00002: "EK-RSA2048", 0x01C0000A: "EK-ECC256", 0x01C00012: "EK-HIGH-RSA2048",
    0x01C00014: "EK-HIGH-ECC256", 0x01C00016: "EK-HIGH-ECC384", 0x01C00018: "EK-HIGH-ECC521",
    0x01C0001C: "EK-HIGH-RSA3072", 0x01C0001E: "EK-HIGH-RSA4096",
}


@dataclass
class CertCheck:
    name: str
    ok: bool
    detail: str


@dataclass
class EkCertFinding:
    """The verdict on one EK certificate."""

    index: int
    kind: str
    subject: str = ""
    issuer: str = ""
    checks: list[CertCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(CertCheck(name, ok, detail))

    def to_dict(self) -> dict:
        return {"index": f"0x{self.index:08x}", "kind": self.kind, "subject": self.subject,
                "issuer": self.issuer, "ok": self.ok,
                "checks": [c.__dict__ for c in self.checks]}


def _der_trim(raw: bytes) -> bytes:
    """NV areas may be larger than the certificate; keep the DER SEQUENCE only."""
    if len(raw) < 4 or raw[0] != 0x30:
        return raw
    if raw[1] < 0x80:
        return raw[: 2 + raw[1]]
    n = raw[1] & 0x7F
    length = int.from_bytes(raw[2:2 + n], "big")
    return raw[: 2 + n + length]


def load_nv_certificate(raw: bytes) -> x509.Certificate | None:
    """The certificate in an NV area (DER, padding after it ignored), or None."""
    try:
        return x509.load_der_x509_certificate(_der_trim(raw))
    except ValueError:
        return None


def derive_ek(esapi, kind: str):
    """The EK public area the chip derives from the TCG template ``kind``.

    Reads the template/nonce NV indices where present (EK Credential Profile
    §2.2.1.5), runs TPM2_CreatePrimary under the endorsement hierarchy and
    flushes the key.

    Raises:
        HarnessError: the template is unknown or the chip refuses the key.
    """
    from tpm2_pytss import TSS2_Exception
    from tpm2_pytss.constants import ESYS_TR
    from tpm2_pytss.types import TPM2B_SENSITIVE_CREATE
    from tpm2_pytss.utils import NVReadEK, create_ek_template

    try:
        _, template = create_ek_template(kind, NVReadEK(esapi))
        handle, public, *_ = esapi.create_primary(TPM2B_SENSITIVE_CREATE(), template,
                                                  ESYS_TR.ENDORSEMENT)
    except (ValueError, TSS2_Exception) as exc:
        raise HarnessError(f"cannot derive {kind} with TPM2_CreatePrimary: {exc}") from exc
    esapi.flush_context(handle)
    return public


def _public_key_of(public):
    from tpm2_pytss.constants import TPM2_ALG, TPM2_ECC

    area = public.publicArea
    if int(area.type) == TPM2_ALG.RSA:
        exp = int(area.parameters.rsaDetail.exponent) or 65537
        return rsa.RSAPublicNumbers(exp, int.from_bytes(bytes(area.unique.rsa), "big")).public_key()
    curves = {TPM2_ECC.NIST_P256: ec.SECP256R1(), TPM2_ECC.NIST_P384: ec.SECP384R1(),
              TPM2_ECC.NIST_P521: ec.SECP521R1()}
    curve = curves[int(area.parameters.eccDetail.curveID)]
    return ec.EllipticCurvePublicNumbers(int.from_bytes(bytes(area.unique.ecc.x), "big"),
                                         int.from_bytes(bytes(area.unique.ecc.y), "big"),
                                         curve).public_key()


def chain_to_root(cert: x509.Certificate, pool: list[x509.Certificate],
                  now: dt.datetime | None = None) -> tuple[bool, str]:
    """Whether ``cert`` chains to a self-signed root in ``pool`` (:func:`harness.ek.verify_chain`).

    The chain is verified at ``now``; when the EK certificate itself is out
    of its validity period (the ``validity`` check reports that), at the start
    of its validity instead, so this check speaks about signatures and the CA
    certificates' constraints only.
    """
    from harness.ek import EkChainError, verify_chain

    now = now or dt.datetime.now(dt.timezone.utc)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        now = cert.not_valid_before_utc
    try:
        chain = verify_chain(cert, pool, now)
    except EkChainError as exc:
        return False, str(exc)
    return True, " <- ".join(c.subject.rfc4514_string() for c in chain)


def _san_attributes(cert: x509.Certificate) -> dict[str, str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return {}
    out = {}
    for name in san.get_values_for_type(x509.DirectoryName):
        for attr in name:
            out[attr.oid.dotted_string] = str(attr.value)
    return out


def check_certificate(index: int, raw: bytes, derived, roots: list[x509.Certificate],
                      now: dt.datetime | None = None) -> EkCertFinding:
    """Hold one EK certificate to the EK Credential Profile.

    Args:
        index: NV index it was read from.
        raw: NV contents.
        derived: the EK public area (TPM2B_PUBLIC) derived from the template,
            or None when the chip could not derive it.
        roots: trusted roots and intermediates.
    """
    kind = EK_KINDS.get(index, "unknown")
    finding = EkCertFinding(index, kind)
    try:
        cert = x509.load_der_x509_certificate(_der_trim(raw))
    except ValueError as exc:
        finding.add("parse", False, f"not a DER X.509 certificate: {exc}")
        return finding
    finding.subject = cert.subject.rfc4514_string()
    finding.issuer = cert.issuer.rfc4514_string()
    finding.add("parse", True, f"X.509 v{cert.version.value + 1}, serial {cert.serial_number:x}")
    san = _san_attributes(cert)
    want = {OID_TPM_MANUFACTURER.dotted_string: "manufacturer", OID_TPM_MODEL.dotted_string: "model",
            OID_TPM_VERSION.dotted_string: "version"}
    missing = [label for oid, label in want.items() if oid not in san]
    finding.add("san_tpm_attributes", not missing,
                "missing " + ", ".join(missing) if missing else
                ", ".join(f"{want[o]}={san[o]}" for o in want))
    key = cert.public_key()
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    if isinstance(key, rsa.RSAPublicKey):
        finding.add("key_strength", key.key_size >= 2048, f"RSA {key.key_size}")
        ok = ku is not None and ku.key_encipherment
        finding.add("key_usage", ok, "keyEncipherment" + ("" if ok else " not set"))
    elif isinstance(key, ec.EllipticCurvePublicKey):
        finding.add("key_strength", key.curve.key_size >= 256, f"ECC {key.curve.name}")
        ok = ku is not None and ku.key_agreement
        finding.add("key_usage", ok, "keyAgreement" + ("" if ok else " not set"))
    else:
        finding.add("key_strength", False, f"unexpected key type {type(key).__name__}")
    now = now or dt.datetime.now(dt.timezone.utc)
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    finding.add("validity", start <= now <= end, f"{start:%Y-%m-%d} .. {end:%Y-%m-%d}")
    if derived is None:
        finding.add("matches_derived_ek", False, f"the chip could not derive {kind}")
    else:
        same = _public_key_of(derived).public_numbers() == key.public_numbers()
        finding.add("matches_derived_ek", same, f"TPM2_CreatePrimary({kind}) "
                    + ("gives the certified key" if same else "gives a different key"))
    if roots:
        ok, detail = chain_to_root(cert, roots, now)
        finding.add("chain", ok, detail)
    else:
        finding.add("chain", False, "no trusted roots supplied")
    return finding


def check_ek_certificates(esapi, nv_indices: Iterable[int], roots: list[x509.Certificate]) -> list[EkCertFinding]:
    """Read every EK certificate in ``nv_indices`` and check it."""
    from tpm2_pytss.utils import NVReadEK

    reader = NVReadEK(esapi)
    out = []
    for index in nv_indices:
        kind = EK_KINDS.get(index)
        raw = reader(index)
        derived = None
        if kind:
            try:
                derived = derive_ek(esapi, kind)
            except HarnessError:
                derived = None
        out.append(check_certificate(index, raw, derived, roots))
    return out
