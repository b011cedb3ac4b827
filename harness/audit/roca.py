"""Weak RSA keys: ROCA fingerprint (CVE-2017-15361, Nemec et al., CCS 2017) and
badkeys' other offline checks.

Infineon's RSA library built primes p = k*M + (65537^a mod M), M a primorial,
so every modulus N = p*q is, modulo each small prime, a power of 65537. The
published fingerprint (discrete logarithm of N to base 65537 modulo the
primorial of primes up to 167) recognises such a modulus from the public key
alone. The ``badkeys`` package (maintained successor of the 2018
``roca-detect``) implements it and adds, offline: Fermat factorisation
(close primes), small prime factors (<= 65537) and primes shared with a
bundled set of known-broken keys. Its network blocklist is not used.

:func:`chip_rsa_keys` gathers the RSA keys a chip produces: EKs derived from
the TCG templates, a storage primary, a child key created under it, and the
public areas of every persistent key (TPM2_ReadPublic).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.errors import HarnessError

#: badkeys' offline RSA checks the audit runs (never "blocklist": it needs downloads).
CHECKS = ("roca", "fermat", "smallfactors", "sharedprimes")
#: Shorter moduli give false ROCA positives (the fingerprint's own floor).
MIN_BITS = 256


def _badkeys_rsa():
    try:
        from badkeys import checkrsa
    except ImportError as exc:  # pragma: no cover - the audit extra installs it
        raise HarnessError("badkeys is not installed (pip install 'tpm-hil[audit]')") from exc
    return checkrsa


def weaknesses(modulus: int, exponent: int = 65537) -> dict[str, str]:
    """badkeys' findings on one RSA public key: {check: detail}; empty when clean.

    Raises:
        ValueError: the modulus is too short to fingerprint.
    """
    if modulus < 2**MIN_BITS:
        raise ValueError(f"modulus of {modulus.bit_length()} bits is too short to fingerprint")
    found = _badkeys_rsa()(modulus, e=exponent, checks=CHECKS)
    return {name: str(r.get("subtest") or r.get("debug") or "detected") if isinstance(r, dict)
            else "detected" for name, r in sorted(found.items())}


def has_roca_fingerprint(modulus: int) -> bool:
    """Whether an RSA modulus has the ROCA structure (badkeys' roca check)."""
    if modulus < 2**MIN_BITS:
        raise ValueError(f"modulus of {modulus.bit_length()} bits is too short to fingerprint")
    return "roca" in _badkeys_rsa()(modulus, checks=("roca",))


@dataclass(frozen=True)
class RsaKeyFinding:
    """One RSA key the chip produced and badkeys' verdict on it."""

    origin: str
    bits: int
    modulus_head: str
    found: dict[str, str] = field(default_factory=dict)

    @property
    def vulnerable(self) -> bool:
        return bool(self.found)

    def to_dict(self) -> dict:
        return {"origin": self.origin, "bits": self.bits, "modulus_head": self.modulus_head,
                "roca_fingerprint": "roca" in self.found, "weaknesses": dict(self.found),
                "checks": list(CHECKS)}


def check_moduli(keys: list[tuple[str, int]]) -> list[RsaKeyFinding]:
    """Run badkeys' offline checks on each (origin, modulus)."""
    return [RsaKeyFinding(origin, n.bit_length(), f"{n:x}"[:16], weaknesses(n))
            for origin, n in keys]


def rsa_modulus(public) -> int | None:
    """Modulus of a TPM2B_PUBLIC / TPMT_PUBLIC, or None if it is not an RSA key."""
    from tpm2_pytss.constants import TPM2_ALG

    area = getattr(public, "publicArea", public)
    if int(area.type) != TPM2_ALG.RSA:
        return None
    return int.from_bytes(bytes(area.unique.rsa), "big")


def chip_rsa_keys(esapi, ek_cert_indices: tuple[int, ...] = ()) -> list[tuple[str, int]]:
    """RSA moduli the chip produces: the keys in its EK certificates, TCG-template
    EKs, a storage primary, a created child key, and every persistent RSA key.

    Uses TPM2_CreatePrimary, TPM2_Create, TPM2_ReadPublic (TPM 2.0 Part 3
    §24.1, §12.1, §12.4); transient objects are flushed before returning.
    """
    from tpm2_pytss.constants import ESYS_TR, TPM2_CAP, TPM2_HC, TPMA_OBJECT
    from tpm2_pytss.types import TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE

    from harness.audit.ekcert import derive_ek

    from cryptography.hazmat.primitives.asymmetric import rsa
    from tpm2_pytss.utils import NVReadEK

    from harness.audit.ekcert import EK_KINDS, load_nv_certificate

    out: list[tuple[str, int]] = []
    reader = NVReadEK(esapi) if ek_cert_indices else None
    for index in ek_cert_indices:
        cert = load_nv_certificate(reader(index))
        if cert is not None and isinstance(cert.public_key(), rsa.RSAPublicKey):
            out.append((f"EK certificate 0x{index:08x}", cert.public_key().public_numbers().n))
    kinds = ["EK-RSA2048"] + [EK_KINDS[i] for i in ek_cert_indices
                              if "RSA" in EK_KINDS.get(i, "") and EK_KINDS[i] != "EK-RSA2048"]
    for kind in kinds:
        try:
            public = derive_ek(esapi, kind)
        except HarnessError:
            continue
        out.append((f"EK from TCG template {kind}", rsa_modulus(public)))
    primary = esapi.create_primary(TPM2B_SENSITIVE_CREATE(), TPM2B_PUBLIC.parse(
        "rsa2048:aes128cfb", objectAttributes=TPMA_OBJECT.DEFAULT_TPM2_TOOLS_CREATEPRIMARY_ATTRS),
        ESYS_TR.OWNER)[0]
    try:
        pub = esapi.read_public(primary)[0]
        out.append(("storage primary (owner, rsa2048)", rsa_modulus(pub)))
        child_pub = esapi.create(primary, TPM2B_SENSITIVE_CREATE(),
                                 TPM2B_PUBLIC.parse("rsa2048"))[1]
        out.append(("created child key (rsa2048)", rsa_modulus(child_pub)))
    finally:
        esapi.flush_context(primary)
    more, data = esapi.get_capability(TPM2_CAP.HANDLES, TPM2_HC.PERSISTENT_FIRST, 64)
    for i in range(data.data.handles.count):
        handle = int(data.data.handles.handle[i])
        tr = esapi.tr_from_tpmpublic(handle)
        try:
            n = rsa_modulus(esapi.read_public(tr)[0])
        finally:
            esapi.tr_close(tr)
        if n is not None:
            out.append((f"persistent key 0x{handle:08x}", n))
    return out
