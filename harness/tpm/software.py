"""Public keys between tpm2-pytss structures and ``cryptography``.

The suites verify the chip's signatures in software and hand software keys
to the chip (LoadExternal); these two conversions serve both directions.
The reference computations themselves (PCRs, policies, KDFs, names,
credentials) live in :mod:`harness.reference`.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization


def public_key(tpm2b_public) -> object:
    """The ``cryptography`` public key of a TPM2B_PUBLIC/TPMT_PUBLIC."""
    pem = tpm2b_public.to_pem()
    return serialization.load_pem_public_key(pem)


def tpm_public_from_key(key, object_attributes: int) -> object:
    """A TPM2B_PUBLIC for a ``cryptography`` public key, as LoadExternal takes it.

    ECC coordinates are written at the full size of the curve: tpm2-pytss's
    ``from_pem`` drops leading zero bytes (about 1 key in 170 on P-256), and a
    TPM rejects such a point with TPM_RC_KEY.
    """
    from tpm2_pytss.types import TPM2B_PUBLIC

    pem = key.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    public = TPM2B_PUBLIC.from_pem(pem, symmetric=None, scheme=None)
    public.publicArea.objectAttributes = object_attributes
    numbers = getattr(key, "public_numbers", lambda: None)()
    if numbers is not None and hasattr(numbers, "x"):
        size = (key.curve.key_size + 7) // 8
        public.publicArea.unique.ecc.x = numbers.x.to_bytes(size, "big")
        public.publicArea.unique.ecc.y = numbers.y.to_bytes(size, "big")
    return public
