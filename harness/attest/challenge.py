"""The AK's binding to the EK, proven with tpm2-tools on the board and checked offline.

Protocol (TCG EK Credential Profile; TPM 2.0 Part 1 §24, Part 3 §12.5/§12.6):

1. the board sends the lab its EK certificate and the AK's TPM2B_PUBLIC;
2. the lab (verifier) makes a credential for *that AK's name*, encrypted to
   *the certificate's key*: ``tpmhil attest --make-challenge DIR`` (software
   MakeCredential, :mod:`harness.attest.credential`), or ``tpm2_makecredential
   -T none -u ek.pem -n AKNAME -s secret.bin -o cred.out`` on the lab host;
3. the board runs ``tpm2_activatecredential``: only the TPM holding that EK,
   with an object of that name loaded, recovers the secret;
4. the verifier compares the recovered secret with its own.

A challenge folder holds ``cred.out``, ``secret.bin`` (mode 0600, never
copied into evidence), ``ak.name`` (the name the credential was made for)
and, when tpm-hil made it, ``nonce.hex`` and ``challenge.json`` (the EK key
fingerprint and AK name it was made for). With a tpm2_makecredential
folder the verifier trusts that the lab passed the certificate's key to
``-u``: the seed is encrypted to the EK, so nobody but the TPM can check it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness import secrets
from harness.attest.credential import make_credential
from harness.attest.tpm2_files import (EvidenceFileError, PublicKey, read_credential, read_file,
                                       read_name, write_credential)

CHALLENGE_FILE = "challenge.json"


def key_fingerprint(key) -> str:
    """SHA-256 of the SubjectPublicKeyInfo (DER), hex."""
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def ek_parameters(ek_key, ek_public: PublicKey | None) -> tuple[str, int]:
    """(nameAlg, AES key bits) of the EK: from its TPM2B_PUBLIC, else the TCG default
    template for its key (EK Credential Profile §2.2.1: L-1/L-2 SHA-256 + AES-128,
    H-3 and up SHA-384 + AES-256)."""
    if ek_public is not None and ek_public.public is not None:
        area = ek_public.public.publicArea
        sym = area.parameters.rsaDetail.symmetric if isinstance(ek_key, rsa.RSAPublicKey) \
            else area.parameters.eccDetail.symmetric
        return ek_public.name_alg, int(sym.keyBits.aes)
    if isinstance(ek_key, rsa.RSAPublicKey):
        return ("sha256", 128) if ek_key.key_size <= 2048 else ("sha384", 256)
    if isinstance(ek_key, ec.EllipticCurvePublicKey):
        return ("sha256", 128) if ek_key.curve.key_size <= 256 else ("sha384", 256)
    raise EvidenceFileError("the EK certificate's key is neither RSA nor ECC")


def make_challenge(out: Path, ek_key, ak: PublicKey, ek_public: PublicKey | None = None
                   ) -> dict:
    """Write a credential for ``ak`` encrypted to ``ek_key``, and a fresh quote nonce."""
    if not ak.name:
        raise EvidenceFileError("the AK public must be a TPM2B_PUBLIC (tpm2_readpublic -o, "
                                "-f tss): the credential is bound to the AK's name")
    out.mkdir(parents=True, exist_ok=True)
    name_alg, sym_bits = ek_parameters(ek_key, ek_public)
    secret = os.urandom(32 if name_alg != "sha1" else 20)
    secrets.register(secret, "credential challenge secret")
    id_object, encrypted = make_credential(ek_key, name_alg, sym_bits, ak.name, secret)
    write_credential(out / "cred.out", id_object, encrypted)
    fd = os.open(out / "secret.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret)
    (out / "ak.name").write_bytes(ak.name)
    nonce = os.urandom(32)
    (out / "nonce.hex").write_text(nonce.hex() + "\n")
    record = {"ak_name": ak.name.hex(), "ek_key_sha256": key_fingerprint(ek_key),
              "ek_name_alg": name_alg, "ek_sym_bits": sym_bits, "nonce": nonce.hex(),
              "secret_sha256": hashlib.sha256(secret).hexdigest(), "created": time.time()}
    (out / CHALLENGE_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return record


@dataclass
class Binding:
    ok: bool
    summary: str
    details: list[str] = field(default_factory=list)


def challenge_nonce(folder: Path) -> bytes | None:
    """The quote nonce a tpm-hil challenge carries, if any."""
    path = folder / "nonce.hex"
    if not path.exists():
        return None
    try:
        return bytes.fromhex(read_file(path, "nonce", 1024).decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise EvidenceFileError(f"nonce {path}: not hex") from None


def verify_binding(folder: Path, activated: Path, ak: PublicKey, ek_key) -> Binding:
    """Check that the board's TPM recovered the secret made for this AK and this EK."""
    details: list[str] = []
    if not ak.name:
        return Binding(False, "the AK public is a bare key (PEM/DER): its TPM name, to which "
                              "the credential is bound, is unknown; collect it with "
                              "tpm2_readpublic -o ak.pub (-f tss)")
    secret = read_file(folder / "secret.bin", "credential secret", 1024)
    secrets.register(secret, "credential challenge secret")
    made_for = read_name(folder / "ak.name")
    id_object, encrypted = read_credential(folder / "cred.out")
    details.append(f"credential {len(id_object)}+{len(encrypted)} bytes made for AK name "
                   f"{made_for.hex()[:20]}...")
    if made_for != ak.name:
        return Binding(False, f"the credential was made for name {made_for.hex()[:20]}..., "
                              f"the quoting AK's name is {ak.name.hex()[:20]}...", details)
    if isinstance(ek_key, rsa.RSAPublicKey) and len(encrypted) != ek_key.key_size // 8:
        return Binding(False, f"the credential's secret is {len(encrypted)} bytes: not "
                              f"encrypted to the certificate's RSA {ek_key.key_size} EK", details)
    record_path = folder / CHALLENGE_FILE
    if record_path.exists():
        try:
            record = json.loads(read_file(record_path, "challenge record", 65536))
            want = str(record["ek_key_sha256"])
        except (ValueError, KeyError, TypeError) as exc:
            raise EvidenceFileError(f"challenge record {record_path}: unreadable ({exc})") \
                from None
        if want != key_fingerprint(ek_key):
            return Binding(False, "the challenge was encrypted to another EK than the one in "
                                  "the EK certificate", details)
        details.append("challenge made by tpm-hil for the certificate's EK key "
                       f"{want[:16]}...")
    else:
        details.append("challenge made with tpm2_makecredential: the lab vouches that it "
                       "encrypted to the certificate's key (-u)")
    recovered = read_file(activated, "activated credential", 1024)
    if not hmac.compare_digest(recovered, secret):
        return Binding(False, "the secret tpm2_activatecredential recovered is not the "
                              "challenge's: the AK is not in the TPM holding the certified EK",
                       details)
    details.append(f"tpm2_activatecredential recovered the {len(secret)}-byte secret")
    return Binding(True, f"AK {ak.name.hex()[:16]}... is in the TPM holding the certified EK "
                         "(credential activated)", details)
