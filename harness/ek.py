"""Endorsement-key certificates: read from NV, chained to trusted roots.

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


def trusted_roots(extra_dir: str | None = None) -> list[x509.Certificate]:
    """Certificates in $TPMHIL_EK_ROOTS (or ``extra_dir``): *.pem, *.crt, *.cer, *.der."""
    folder = extra_dir or os.environ.get(ROOTS_ENV)
    out: list[x509.Certificate] = []
    if not folder:
        return out
    if not Path(folder).is_dir():
        raise ConfigError(f"EK roots folder {folder} (${ROOTS_ENV}) is not a directory")
    for path in sorted(Path(folder).glob("*")):
        if path.suffix.lower() not in (".pem", ".crt", ".cer", ".der"):
            continue
        data = path.read_bytes()
        if data.lstrip().startswith(b"-----BEGIN") and b"-----BEGIN CERTIFICATE-----" not in data:
            continue  # a key or CSR beside the certificates: not a trust anchor
        try:
            if b"-----BEGIN CERTIFICATE-----" in data:
                out.extend(x509.load_pem_x509_certificates(data))
            else:
                out.append(x509.load_der_x509_certificate(data))
        except ValueError as exc:
            raise ConfigError(f"EK root {path}: not an X.509 certificate ({exc})") from None
    return out


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


def verify_chain(cert: x509.Certificate, pool: list[x509.Certificate],
                 at: dt.datetime | None = None) -> list[x509.Certificate]:
    """Follow issuers through ``pool`` up to a self-signed root.

    Returns the chain from ``cert`` to the root. Raises EkChainError naming
    the certificate that fails (signature, validity or no issuer found).
    """
    at = at or dt.datetime.now(dt.timezone.utc)
    chain = [cert]
    current = cert
    for _ in range(8):
        if not (current.not_valid_before_utc <= at <= current.not_valid_after_utc):
            raise EkChainError(f"certificate {current.subject.rfc4514_string()} is not valid at {at:%Y-%m-%d}")
        if current.issuer == current.subject:
            current.verify_directly_issued_by(current)
            return chain
        issuers = [c for c in pool if c.subject == current.issuer]
        if not issuers:
            raise EkChainError(f"no trusted issuer {current.issuer.rfc4514_string()} for "
                               f"{current.subject.rfc4514_string() or 'the EK certificate'}")
        for issuer in issuers:
            try:
                current.verify_directly_issued_by(issuer)
                break
            except Exception:
                continue
        else:
            raise EkChainError(f"signature of {current.subject.rfc4514_string() or 'the EK certificate'} "
                               f"does not verify with {current.issuer.rfc4514_string()}")
        chain.append(issuer)
        current = issuer
    raise EkChainError("certificate chain longer than 8")
