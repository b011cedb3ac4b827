"""AES in CFB-128 mode, the TPM's parameter-encryption and credential cipher
(TPM 2.0 Part 1 §11.4.6, §21.3)."""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # cryptography >= 43 moved CFB to the "decrepit" namespace.
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB


def aes_cfb_encrypt(key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """Encrypt ``data`` with AES-CFB128 (IV all zero when not given)."""
    enc = Cipher(algorithms.AES(key), CFB(iv or bytes(16))).encryptor()
    return enc.update(data) + enc.finalize()


def aes_cfb_decrypt(key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """Decrypt ``data`` with AES-CFB128 (IV all zero when not given)."""
    dec = Cipher(algorithms.AES(key), CFB(iv or bytes(16))).decryptor()
    return dec.update(data) + dec.finalize()
