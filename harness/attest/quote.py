"""TPM2_Quote with the enrolled AK, verified in software.

Chip side: ReadClock (Part 3 §29.2) for a reference point, then Quote
(Part 3 §18.4) over the log's PCRs in every bank the log carries, with a
fresh nonce as qualifyingData.

Verifier side: the TPMS_ATTEST (Part 2 §10.12.12) and TPMT_SIGNATURE
(§11.3.4) are unmarshalled by tpm2-pytss (:func:`unmarshal_attest`,
:func:`verify_tpm_signature`: the harness's one parser of both, which the
conformance suites use too) and checked here: magic TPM_GENERATED_VALUE, type TPM_ST_ATTEST_QUOTE,
qualifiedSigner equal to the AK name, extraData equal to the nonce, the PCR
selection equal to the request, pcrDigest equal to the hash of the replayed
log's values, clock not before the reference and reset/restart counters equal
to it, clock safe; the signature (RSASSA/RSAPSS/ECDSA) verified with the AK
public key by ``cryptography``.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tpm2_pytss.constants import TPM2_ALG
from tpm2_pytss.types import TPMS_ATTEST, TPMT_SIGNATURE

from harness.attest import pcrs as pcr_ops
from harness.errors import HarnessError
from harness.reference.hashes import alg_name

TPM_GENERATED_VALUE = 0xFF544347
TPM_ST_ATTEST_QUOTE = 0x8018
_SCHEMES = {int(TPM2_ALG.RSASSA): "rsassa", int(TPM2_ALG.RSAPSS): "rsapss",
            int(TPM2_ALG.ECDSA): "ecdsa"}


class QuoteFormatError(HarnessError):
    """The quote or its signature is not a well-formed TPM structure."""


@dataclass
class ClockInfo:
    clock: int
    reset_count: int
    restart_count: int
    safe: bool


@dataclass
class QuoteBody:
    """TPMS_ATTEST of a quote."""

    magic: int
    type: int
    qualified_signer: bytes
    extra_data: bytes
    clock: ClockInfo
    firmware_version: int
    selection: list[tuple[str, list[int]]]
    pcr_digest: bytes


@dataclass
class Quote:
    """A quote as the chip returned it, plus the verifier's reference clock."""

    attest: bytes  # TPMS_ATTEST bytes (what was signed)
    signature: bytes  # TPMT_SIGNATURE bytes
    nonce: bytes
    requested: list[tuple[str, list[int]]]
    reference: ClockInfo
    pcr_read: dict[str, dict[int, bytes]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"attest": self.attest.hex(), "signature": self.signature.hex(),
                "nonce": self.nonce.hex(),
                "selection": [{"bank": b, "pcrs": p} for b, p in self.requested],
                "reference_clock": vars(self.reference)}


def _unmarshal(cls, data: bytes):
    """``cls.unmarshal`` of all of ``data`` (tpm2-pytss); one-line QuoteFormatError if not."""
    try:
        out, used = cls.unmarshal(bytes(data))
    except Exception as exc:  # the TSS unmarshaller raises several kinds
        raise QuoteFormatError(f"{cls.__name__}: not well formed ({len(data)} bytes): "
                               f"{(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
    if used != len(data):
        raise QuoteFormatError(f"{cls.__name__}: {len(data) - used} bytes after the structure")
    return out


def unmarshal_attest(data: bytes) -> TPMS_ATTEST:
    """The TPMS_ATTEST (Part 2 §10.12.12) of any attestation (quote, certify, audit,
    time, NV...), by tpm2-pytss; every byte must belong to it. The magic is left to
    the caller (a verifier reports it, it does not crash on it).

    Raises:
        QuoteFormatError: not a whole TPMS_ATTEST.
    """
    return _unmarshal(TPMS_ATTEST, data)


def parse_attest(data: bytes) -> QuoteBody:
    """The fields a verifier checks in a TPMS_ATTEST, with the TPMS_QUOTE_INFO of a quote.

    Raises:
        QuoteFormatError: not a whole TPMS_ATTEST.
    """
    a = unmarshal_attest(data)
    c = a.clockInfo
    body = QuoteBody(int(a.magic), int(a.type), bytes(a.qualifiedSigner), bytes(a.extraData),
                     ClockInfo(int(c.clock), int(c.resetCount), int(c.restartCount),
                               bool(c.safe)), int(a.firmwareVersion), [], b"")
    if body.type == TPM_ST_ATTEST_QUOTE:
        body.selection = pcr_ops.selected(a.attested.quote.pcrSelect)
        body.pcr_digest = bytes(a.attested.quote.pcrDigest)
    return body


def pcr_composite_digest(hash_name: str, selection: list[tuple[str, list[int]]],
                         values: dict[str, dict[int, bytes]]) -> bytes:
    """pcrDigest of a quote (Part 3 §18.4): H(PCR values in selection order)."""
    h = hashlib.new(hash_name)
    for bank, pcr_list in selection:
        for pcr in sorted(pcr_list):
            h.update(values[bank][pcr])
    return h.digest()


def take_quote(esapi, ak_handle, banks: list[str], pcrs: list[int],
               nonce: bytes | None = None) -> Quote:
    """ReadClock, Quote over ``pcrs`` in ``banks`` with a fresh nonce, then PCR_Read."""
    nonce = nonce if nonce is not None else os.urandom(32)
    ti = esapi.read_clock()
    ref = ClockInfo(int(ti.clockInfo.clock), int(ti.clockInfo.resetCount),
                    int(ti.clockInfo.restartCount), bool(ti.clockInfo.safe))
    attest, signature = esapi.quote(ak_handle, pcr_ops.selection(banks, pcrs), nonce)
    quote = Quote(attest=bytes(attest), signature=signature.marshal(), nonce=nonce,
                  requested=[(b, sorted(pcrs)) for b in banks], reference=ref)
    quote.pcr_read = pcr_ops.read_pcrs(esapi, banks, pcrs)
    return quote


def verify_tpm_signature(public_key, message: bytes, signature: TPMT_SIGNATURE) -> str:
    """Verify a TPMT_SIGNATURE (RSASSA, RSAPSS, ECDSA; Part 2 §11.3.4) over ``message``
    with a ``cryptography`` public key; return the scheme (``ecdsa-sha256``).

    Raises:
        QuoteFormatError: a scheme, hash or key type the verifier does not handle;
        cryptography.exceptions.InvalidSignature: a bad signature.
    """
    scheme = _SCHEMES.get(int(signature.sigAlg))
    if scheme is None:
        raise QuoteFormatError(f"signature scheme 0x{int(signature.sigAlg):04x} is not "
                               "supported by the verifier")
    detail = getattr(signature.signature, scheme)
    hash_name = alg_name(int(detail.hash))
    algorithm = getattr(hashes, hash_name.upper(), None)  # sha256 -> hashes.SHA256
    if algorithm is None:
        raise QuoteFormatError(f"signature scheme {scheme} with hash {hash_name} is not "
                               "supported by the verifier")
    if scheme == "ecdsa":
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise QuoteFormatError("ecdsa signature but the key is not an ECC key")
        der = encode_dss_signature(int.from_bytes(bytes(detail.signatureR), "big"),
                                   int.from_bytes(bytes(detail.signatureS), "big"))
        public_key.verify(der, message, ec.ECDSA(algorithm()))
    else:
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise QuoteFormatError(f"{scheme} signature but the key is not an RSA key")
        pad = padding.PKCS1v15() if scheme == "rsassa" else padding.PSS(
            mgf=padding.MGF1(algorithm()), salt_length=padding.PSS.AUTO)
        public_key.verify(bytes(detail.sig), message, pad, algorithm())
    return f"{scheme}-{hash_name}"


def verify_signature(public_key, attest: bytes, signature: bytes) -> str:
    """Verify a marshalled TPMT_SIGNATURE over ``attest``; return the scheme description.

    Raises:
        QuoteFormatError: not a TPMT_SIGNATURE, or an unknown scheme;
        InvalidSignature: a bad signature.
    """
    return verify_tpm_signature(public_key, attest, _unmarshal(TPMT_SIGNATURE, signature))


def verify_quote(quote: Quote, ak_public_key, ak_qualified_name: bytes,
                 expected: dict[str, dict[int, bytes]], expected_label: str = "replayed log",
                 firmware_version: int | None = None) -> list[tuple[str, bool, str]]:
    """All verifier checks on a quote; a list of (check, ok, detail).

    Args:
        quote: from :func:`take_quote`.
        ak_public_key: the enrolled AK's public key (``cryptography``).
        ak_qualified_name: the enrolled AK's qualified name (Part 1 §16.6),
            which the TPM puts in qualifiedSigner.
        expected: bank -> PCR -> value the quote must attest (the replayed log).
        firmware_version: the chip's firmware version, if known.
    """
    out: list[tuple[str, bool, str]] = []
    try:
        scheme = verify_signature(ak_public_key, quote.attest, quote.signature)
        out.append(("signature", True, f"{scheme} signature by the enrolled AK verifies"))
    except InvalidSignature:
        out.append(("signature", False, "the quote signature does not verify with the AK"))
        return out
    except QuoteFormatError as exc:
        out.append(("signature", False, str(exc)))
        return out
    try:
        body = parse_attest(quote.attest)
    except QuoteFormatError as exc:
        out.append(("structure", False, str(exc)))
        return out
    out.append(("magic/type", body.magic == TPM_GENERATED_VALUE and
                body.type == TPM_ST_ATTEST_QUOTE,
                f"magic 0x{body.magic:08x}, type 0x{body.type:04x} (want 0x{TPM_GENERATED_VALUE:08x},"
                f" 0x{TPM_ST_ATTEST_QUOTE:04x})"))
    ok = body.qualified_signer == ak_qualified_name
    out.append(("signer", ok, f"qualifiedSigner {body.qualified_signer.hex()[:20]}... "
                f"{'is' if ok else 'is NOT'} the enrolled AK (under the EK)"))
    out.append(("nonce", body.extra_data == quote.nonce,
                "extraData equals the fresh nonce" if body.extra_data == quote.nonce else
                f"extraData {body.extra_data.hex()} != nonce {quote.nonce.hex()}"))
    out.append(("selection", body.selection == quote.requested,
                f"quoted {body.selection}" + ("" if body.selection == quote.requested
                                               else f", requested {quote.requested}")))
    hash_name = alg_name(struct.unpack(">H", quote.signature[2:4])[0])
    try:
        want = pcr_composite_digest(hash_name, body.selection, expected)
        ok = want == body.pcr_digest
        out.append(("pcr digest", ok, f"pcrDigest {'equals' if ok else 'differs from'} "
                    f"{hash_name}(PCR values of the {expected_label})"
                    + ("" if ok else f": quote {body.pcr_digest.hex()[:16]}..., "
                                     f"{expected_label} {want.hex()[:16]}...")))
    except KeyError as exc:
        out.append(("pcr digest", False, f"the {expected_label} has no value for {exc}"))
    if quote.pcr_read:
        try:
            read = pcr_composite_digest(hash_name, body.selection, quote.pcr_read)
            out.append(("pcr read", read == body.pcr_digest,
                        "pcrDigest equals PCR_Read after the quote" if read == body.pcr_digest
                        else "pcrDigest differs from PCR_Read after the quote (PCRs changed?)"))
        except KeyError:
            pass
    ref, c = quote.reference, body.clock
    clock_ok = (c.clock >= ref.clock and c.reset_count == ref.reset_count and
                c.restart_count == ref.restart_count and c.safe)
    out.append(("clock", clock_ok,
                f"clock {c.clock} ms (ReadClock before: {ref.clock}), resetCount {c.reset_count}"
                f" ({ref.reset_count}), restartCount {c.restart_count} ({ref.restart_count}), "
                f"safe {'yes' if c.safe else 'NO'}"))
    if firmware_version is not None:
        out.append(("firmware", body.firmware_version == firmware_version,
                    f"firmwareVersion 0x{body.firmware_version:016x}"
                    + ("" if body.firmware_version == firmware_version
                       else f" != GetCapability 0x{firmware_version:016x}")))
    return out

