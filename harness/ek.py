"""Endorsement-key certificates: read from NV, chained to trusted roots
(:func:`verify_chain`, the harness's one chain check, on cryptography.x509.verification).

EK certificates live in NV indices defined by the TCG EK Credential Profile
(§2.2.1.4: 0x01C00002 RSA 2048, 0x01C0000A ECC P-256, high range from
0x01C00012). Trusted roots come from a folder of PEM/DER files the lab
supplies ($TPMHIL_EK_ROOTS), or, for a spawned swtpm, the harness's local CA.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from tpm2_pytss import TSS2_Exception
from tpm2_pytss.constants import ESYS_TR

from harness.errors import ConfigError, HarnessError

ROOTS_ENV = "TPMHIL_EK_ROOTS"

# TCG EK Credential Profile 2.5, Annex B, template L-1 (RSA 2048 EK).
EK_RSA2048_POLICY = bytes.fromhex(
    "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa")
EK_RSA2048_ATTRS = "fixedtpm|fixedparent|sensitivedataorigin|adminwithpolicy|restricted|decrypt"


class EkChainError(HarnessError):
    """An EK certificate does not chain to a trusted root."""


def read_nv(esapi, index: int, chunk: int = 512) -> bytes:
    """Read a whole NV index (auth by the index itself, else by the owner)."""
    handle = esapi.tr_from_tpmpublic(index)
    public, _ = esapi.nv_read_public(handle)
    size = public.nvPublic.dataSize
    out = bytearray()
    for auth in (handle, ESYS_TR.OWNER):
        try:
            while len(out) < size:
                n = min(chunk, size - len(out))
                out += bytes(esapi.nv_read(handle, n, offset=len(out), auth_handle=auth))
            return bytes(out)
        except TSS2_Exception:
            out.clear()
            continue
    raise HarnessError(f"NV index 0x{index:08x} is readable neither with its own nor owner auth")


def load_certificate(data: bytes) -> x509.Certificate:
    """DER (as stored in NV; trailing padding tolerated) or PEM."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    if len(data) > 4 and data[0] == 0x30 and data[1] == 0x82:
        length = 4 + int.from_bytes(data[2:4], "big")
        data = data[:length]
    return x509.load_der_x509_certificate(data)


def load_trust_roots(paths) -> list[x509.Certificate]:
    """Certificates (PEM or DER) from files and folders a lab supplies.

    Folders contribute their *.pem, *.crt, *.cer and *.der files; a PEM file
    holding no certificate (a key or CSR beside the certificates) is skipped.

    Raises:
        ConfigError: a path does not exist, or a file that should hold a
            certificate does not parse (the message names the file).
    """
    out: list[x509.Certificate] = []
    for p in map(Path, paths):
        if not p.exists():
            raise ConfigError(f"trust roots: {p} does not exist")
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in (".pem", ".crt", ".cer", ".der")) \
            if p.is_dir() else [p]
        for f in files:
            data = f.read_bytes()
            pem = data.lstrip().startswith(b"-----BEGIN")
            if pem and b"-----BEGIN CERTIFICATE-----" not in data and b"-----BEGIN X509" not in data:
                continue  # a key or CSR beside the certificates: not a trust anchor
            try:
                certs = x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data \
                    else [x509.load_der_x509_certificate(data)]
            except ValueError as exc:
                raise ConfigError(f"trust roots: {f}: not a PEM or DER certificate ({exc})") from None
            out.extend(certs)
    return out


def trusted_roots(extra_dir: str | None = None) -> list[x509.Certificate]:
    """Certificates in $TPMHIL_EK_ROOTS (or ``extra_dir``): *.pem, *.crt, *.cer, *.der."""
    folder = extra_dir or os.environ.get(ROOTS_ENV)
    if not folder:
        return []
    if not Path(folder).is_dir():
        raise ConfigError(f"EK roots folder {folder} (${ROOTS_ENV}) is not a directory")
    return load_trust_roots([folder])


def harness_ca_trusted(target) -> bool:
    """Whether the target's TPM is a swtpm provisioned by the harness (directly,
    behind a virtual chip, or behind a simulated gateway), so the harness's local
    CA is the issuer of its EK certificates."""
    seen = 0
    while target is not None and seen < 4:
        if getattr(target, "local_ca", False):
            return True
        target = getattr(target, "backend_target", None)
        seen += 1
    return False


#: Deepest chain accepted (EK certificate, vendor intermediates, root).
MAX_CHAIN_DEPTH = 8


def verify_chain(cert: x509.Certificate, pool: list[x509.Certificate],
                 at: dt.datetime | None = None) -> list[x509.Certificate]:
    """Verify ``cert`` up to a self-signed root in ``pool`` (RFC 5280 path validation).

    The one chain check of the harness (the functional suite's EK tests, the
    audit's EK credentials, attestation enrollment and TPM-signed package
    verification use it), built on
    ``cryptography.x509.verification``: the self-signed certificates of
    ``pool`` are the trust anchors, the others candidate intermediates. Every
    CA certificate on the path is held to the WebPKI CA profile (basicConstraints
    cA=TRUE, keyUsage keyCertSign, validity at ``at``, path length, name
    constraints, signature algorithm and key size); the EK certificate itself
    to no extension policy, because the TCG EK Credential Profile differs from a
    TLS leaf (no extendedKeyUsage for TLS, a critical subjectAltName holding a
    directoryName of TPM attributes, an empty subject). The profile's own rules
    for the leaf are checked by :mod:`harness.audit.ekcert`.

    Returns the chain from ``cert`` to the root. Raises EkChainError naming
    the certificate and why it does not verify.
    """
    from cryptography.x509 import verification as v

    at = at or dt.datetime.now(dt.timezone.utc)
    name = cert.subject.rfc4514_string() or "the EK certificate"
    anchors = [c for c in pool if c.subject == c.issuer]
    if not anchors:
        raise EkChainError(f"{name} does not verify: none of the {len(pool)} trusted certificates "
                           "is a self-signed root")
    intermediates = [c for c in pool if c.subject != c.issuer]
    verifier = (v.PolicyBuilder().store(v.Store(anchors)).time(at)
                .max_chain_depth(MAX_CHAIN_DEPTH)
                .extension_policies(ca_policy=v.ExtensionPolicy.webpki_defaults_ca(),
                                    ee_policy=v.ExtensionPolicy.permit_all())
                .build_client_verifier())
    try:
        verified = verifier.verify(cert, intermediates)
    except v.VerificationError as exc:
        reason = str(exc).replace("validation failed: ", "")
        raise EkChainError(f"{name} (issuer {cert.issuer.rfc4514_string()}) does not verify to a "
                           f"trusted root at {at:%Y-%m-%d}: {reason}") from None
    return list(verified.chain)
