"""Signing evidence with a key held in the lab's TPM (``tpmhil report --sign-with-tpm URI``).

The key: an ECC NIST P-256, restricted, sign-only, fixedTPM primary key in
the endorsement hierarchy, created with TPM2_CreatePrimary from a fixed
template (:data:`TEMPLATE_UNIQUE` in ``unique.x``), so the same TPM re-creates
the same key every time and no key file exists anywhere (TPM 2.0 Part 1
§26.2: primary keys derive from the hierarchy seed and the template).

Signing: a restricted key signs only digests the TPM made itself, so the
statement ``tpm-hil evidence manifest sha256:<hex of SHA-256(manifest.json)>``
is hashed by TPM2_Hash in the endorsement hierarchy, which returns a
TPMT_TK_HASHCHECK ticket (the statement does not begin with TPM_GENERATED_VALUE),
and TPM2_Sign signs that digest with ECDSA-SHA256 (Part 3 §15.4, §20.2).

Binding to the TPM: at signing, the harness performs a credential activation
(Part 1 §24): it reads the EK certificate from NV, checks the chip's EK is the
certificate's key, makes a credential for the signing key's name to that EK
in software, and the TPM's ActivateCredential must return the secret, which it
does only when the key named is loaded in the TPM holding that EK. The package
carries, under ``tpm-signing/``: the key's TPM2B_PUBLIC and PEM, the EK
certificate (and the issuing CA certificates when the harness knows them),
and ``binding.json`` (EK serial, issuer and public key hash, the key's name,
the SHA-256 of the activated credential).

What ``tpmhil verify`` checks offline: the signature under the packaged key;
the key's attributes (fixedTPM, restricted, sign, sensitiveDataOrigin); that
its name is the one the binding record names; that the EK certificate is the
one the binding names; the EK chain when trusted roots are given
($TPMHIL_EK_ROOTS). The activation itself happened on the lab's TPM: an offline
verifier takes it on the packaging harness's word, so origin still comes from
pinning (``--key tpm-signing/signing-key.pub.pem`` recorded at lab enrollment).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from harness.errors import HarnessError

FOLDER = "tpm-signing"
PUBLIC_PEM = f"{FOLDER}/signing-key.pub.pem"
PUBLIC_TPM2B = f"{FOLDER}/signing-key.tpm2b_public"
EK_CERT = f"{FOLDER}/ek-certificate.pem"
EK_CHAIN = f"{FOLDER}/ek-issuers.pem"
BINDING = f"{FOLDER}/binding.json"
KIND = "tpm-ecdsa-p256"
TEMPLATE_UNIQUE = b"tpm-hil evidence signing key v1"
STATEMENT = b"tpm-hil evidence manifest sha256:"
EK_TYPES = ("rsa", "ecc", "ecc384")


class TpmSigningError(HarnessError):
    """The TPM cannot provide or bind the evidence signing key."""


def statement(manifest: bytes) -> bytes:
    """What the TPM signs for a manifest (never starts with TPM_GENERATED_VALUE)."""
    return STATEMENT + hashlib.sha256(manifest).hexdigest().encode()


def signing_template() -> Any:
    from tpm2_pytss.types import TPM2B_PUBLIC, TPMT_PUBLIC

    from harness.attest.enroll import AK_ATTRIBUTES

    template = TPM2B_PUBLIC(publicArea=TPMT_PUBLIC.parse("ecc256:ecdsa-sha256:null",
                                                         objectAttributes=AK_ATTRIBUTES))
    template.publicArea.unique.ecc.x = TEMPLATE_UNIQUE
    return template


def _spki_sha256(key: Any) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


class TpmSigner:
    """A signer (see :func:`reports.manifest.sign_package`) whose key lives in a TPM.

    Use as a context manager: entering opens the target, re-creates the key and
    binds it to the EK by credential activation; leaving flushes and closes.
    """

    kind = KIND

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._session: Any = None
        self._esapi: Any = None
        self._handle: Any = None
        self._enrollment: Any = None
        self._issuers: list[x509.Certificate] = []
        self.binding: dict[str, Any] = {}

    def __enter__(self) -> "TpmSigner":
        from tpm2_pytss import TSS2_Exception

        from harness.fixtures_support import open_session_esapi

        self._session = open_session_esapi(self.uri)
        target, self._esapi = self._session.__enter__()
        try:
            _endorsement_auth(self._esapi)
            self._bind(target)
        except TSS2_Exception as exc:
            self.__exit__(None, None, None)
            raise TpmSigningError(f"--sign-with-tpm {self.uri}: {exc}") from None
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._enrollment is not None:
            self._enrollment.flush(self._esapi)
            self._enrollment = None
        if self._session is not None:
            session, self._session = self._session, None
            session.__exit__(None, None, None)

    def _enroll_ek(self) -> tuple[Any, Any, str]:
        from harness.attest.enroll import EnrollmentError, create_ek, ek_key_for_credential

        errors = []
        for ek_type in EK_TYPES:
            try:
                enrollment = create_ek(self._esapi, ek_type)
            except (EnrollmentError, Exception) as exc:  # template absent, or no such EK here
                errors.append(f"{ek_type}: {exc}")
                continue
            if enrollment.ek_certificate is None:
                enrollment.flush(self._esapi)
                errors.append(f"{ek_type}: no EK certificate")
                continue
            try:
                return enrollment, ek_key_for_credential(enrollment, None, True, ek_type), ek_type
            except EnrollmentError as exc:
                enrollment.flush(self._esapi)
                errors.append(f"{ek_type}: {exc}")
        raise TpmSigningError(f"--sign-with-tpm {self.uri}: no certified EK to bind the signing "
                              f"key to ({'; '.join(errors)[:300]})")

    def _bind(self, target: Any) -> None:
        from tpm2_pytss.constants import ESYS_TR

        from harness.attest.enroll import activate
        from harness.ek import harness_ca_trusted

        enrollment, ek_key, ek_type = self._enroll_ek()
        self._enrollment = enrollment
        handle, public, _cd, _ch, _tk = self._esapi.create_primary(None, signing_template(),
                                                                   ESYS_TR.ENDORSEMENT)
        enrollment.ak_handle, enrollment.ak_public = handle, public
        activate(self._esapi, enrollment, ek_key)   # the TPM proves the key sits beside the EK
        self._handle, self.public = handle, public
        self.key = enrollment.ak_key()
        cert = enrollment.ek_certificate
        if harness_ca_trusted(target):
            from harness.swtpm_process import ca_root_certificates

            for path in ca_root_certificates():
                self._issuers.extend(x509.load_pem_x509_certificates(path.read_bytes()))
        from reports.manifest import fingerprint

        self.fingerprint = fingerprint(self.key)
        self.binding = {
            "method": "credential activation (TPM2_ActivateCredential) at signing",
            "ek_type": ek_type,
            "ek_certificate_sha256": hashlib.sha256(cert.public_bytes(
                serialization.Encoding.DER)).hexdigest(),
            "ek_certificate_serial": format(cert.serial_number, "x"),
            "ek_certificate_issuer": cert.issuer.rfc4514_string(),
            "ek_public_sha256": _spki_sha256(cert.public_key()),
            "signing_key_name": enrollment.ak_name.hex(),
            "signing_key_template": "ecc256:ecdsa-sha256 restricted|sign|fixedTPM|fixedParent|"
                                    f"sensitiveDataOrigin|userWithAuth|noDA, unique.x="
                                    f"{TEMPLATE_UNIQUE.decode()}",
            "hierarchy": "endorsement",
            "checks": list(enrollment.checks),
            "target": _redacted(self.uri),
        }

    def info(self) -> dict[str, Any]:
        return {"kind": KIND, "fingerprint": self.fingerprint, "public_key": PUBLIC_PEM,
                "ek_public_sha256": self.binding["ek_public_sha256"],
                "ek_certificate_serial": self.binding["ek_certificate_serial"]}

    def write_files(self, package: Path) -> None:
        folder = package / FOLDER
        folder.mkdir(exist_ok=True)
        (package / PUBLIC_PEM).write_bytes(self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        (package / PUBLIC_TPM2B).write_bytes(bytes(self.public.marshal()))
        (package / EK_CERT).write_bytes(self._enrollment.ek_certificate.public_bytes(
            serialization.Encoding.PEM))
        if self._issuers:
            (package / EK_CHAIN).write_bytes(b"".join(
                c.public_bytes(serialization.Encoding.PEM) for c in self._issuers))
        (package / BINDING).write_text(json.dumps(self.binding, indent=2, sort_keys=True) + "\n")

    def sign(self, data: bytes) -> bytes:
        """TPM2_Hash (ticket) then TPM2_Sign of the statement; DER ECDSA signature."""
        from tpm2_pytss.constants import ESYS_TR, TPM2_ALG
        from tpm2_pytss.types import TPMT_SIG_SCHEME

        digest, ticket = self._esapi.hash(statement(data), TPM2_ALG.SHA256, ESYS_TR.ENDORSEMENT)
        scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.ECDSA)
        scheme.details.any.hashAlg = TPM2_ALG.SHA256
        sig = self._esapi.sign(self._handle, digest, scheme, ticket)
        r = int.from_bytes(bytes(sig.signature.ecdsa.signatureR), "big")
        s = int.from_bytes(bytes(sig.signature.ecdsa.signatureS), "big")
        return encode_dss_signature(r, s)


def _endorsement_auth(esapi: Any) -> None:
    """The lab's endorsement hierarchy auth ($TPMHIL_ENDORSEMENT_AUTH, contract 1), if given:
    CreatePrimary in the endorsement hierarchy and the EK's PolicySecret need it."""
    import os
    from types import SimpleNamespace

    from harness.tpm.hierarchy_auth import AuthValueError, from_options

    try:
        auth = from_options(SimpleNamespace(), os.environ).restricted_to({"endorsement"})
    except AuthValueError as exc:
        raise TpmSigningError(str(exc)) from None
    auth.apply(esapi)


def _redacted(uri: str) -> str:
    from harness.secrets import scrub

    return scrub(uri)


def _read(package: Path, rel: str) -> bytes:
    path = package / rel
    if path.is_symlink() or not path.is_file():
        raise TpmSigningError(f"{rel} missing")
    return path.read_bytes()


def _binding_problems(package: Path, public_pem: bytes, result: Any) -> list[str]:
    """Check the key's public area and the binding record against each other and the EK cert."""
    from tpm2_pytss.types import TPM2B_PUBLIC

    from harness.attest.credential import object_name
    from harness.attest.enroll import EnrollmentError, verify_ak_attributes

    problems = []
    binding = json.loads(_read(package, BINDING).decode("utf-8"))
    if not isinstance(binding, dict):
        return [f"{BINDING}: not a JSON object"]
    public, _ = TPM2B_PUBLIC.unmarshal(_read(package, PUBLIC_TPM2B))
    try:
        verify_ak_attributes(public)
    except EnrollmentError as exc:
        problems.append(f"signing key: {exc}")
    if bytes(public.publicArea.to_pem()).strip() != public_pem.strip():
        problems.append(f"{PUBLIC_PEM} is not the key of {PUBLIC_TPM2B}")
    name = object_name("sha256", public.publicArea.marshal()).hex()
    if binding.get("signing_key_name") != name:
        problems.append(f"the binding record names key {str(binding.get('signing_key_name'))[:20]}"
                        f"..., not the signing key {name[:20]}... (binding swapped)")
    cert = x509.load_pem_x509_certificate(_read(package, EK_CERT))
    cert_sha = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    ek_sha = _spki_sha256(cert.public_key())
    if binding.get("ek_certificate_sha256") != cert_sha or binding.get("ek_public_sha256") != ek_sha:
        problems.append(f"{EK_CERT} is not the EK certificate the key was bound to "
                        "(binding swapped)")
    result.tpm = {"ek_certificate_serial": format(cert.serial_number, "x"),
                  "ek_certificate_issuer": cert.issuer.rfc4514_string(), "ek_public_sha256": ek_sha,
                  "signing_key_name": name}
    result.notes.append(_chain_note(package, cert))
    return problems


def _chain_note(package: Path, cert: x509.Certificate) -> str:
    from harness.ek import EkChainError, trusted_roots, verify_chain

    try:
        roots = trusted_roots()
    except HarnessError as exc:
        return f"EK certificate chain not checked: {exc}"
    if not roots:
        return "EK certificate chain not checked: no trusted EK roots ($TPMHIL_EK_ROOTS)"
    pool = list(roots)
    chain_file = package / EK_CHAIN
    if chain_file.is_file() and not chain_file.is_symlink():
        pool += [c for c in x509.load_pem_x509_certificates(chain_file.read_bytes())
                 if c.subject != c.issuer]   # intermediates only: roots come from the verifier
    try:
        chain = verify_chain(cert, pool)
    except (EkChainError, ValueError) as exc:
        return f"EK certificate chain does NOT verify: {exc}"
    return "EK certificate chain verified to " + chain[-1].subject.rfc4514_string()


def verify_tpm_signature(package: Path, manifest: bytes, signature: bytes, result: Any) -> Any:
    """Check a TPM-signed package's signature and binding; fill ``result``.

    Returns:
        The signing public key, or None when it cannot be read.
    """
    try:
        public_pem = _read(package, PUBLIC_PEM)
        key = serialization.load_pem_public_key(public_pem)
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise TpmSigningError(f"{PUBLIC_PEM}: not an ECC key")
        problems = _binding_problems(package, public_pem, result)
    except (TpmSigningError, OSError, ValueError, TypeError, KeyError, Exception) as exc:
        result.problems.append(f"TPM signing material unreadable: {str(exc)[:200]}")
        return None
    result.problems.extend(problems)
    try:
        key.verify(signature, statement(manifest), ec.ECDSA(hashes.SHA256()))
        result.signature_ok = True
    except (InvalidSignature, ValueError):
        result.problems.append("manifest.sig: the TPM signature does not match manifest.json "
                               f"under {PUBLIC_PEM}")
    return key


def check_live(package: Path, uri: str) -> list[str]:
    """Prove, with the lab TPM at hand, that the package's signing key lives in it.

    Re-creates the signing key from its template (it must have the packaged
    key's name), checks the TPM's EK is the packaged EK certificate's key, and
    runs a fresh credential activation with a random secret (TPM 2.0 Part 1 §24).

    Returns:
        The problems found ([] when the key is proven resident in that TPM).
    """
    from tpm2_pytss import TSS2_Exception
    from tpm2_pytss.constants import ESYS_TR
    from tpm2_pytss.types import TPM2B_PUBLIC

    from harness.attest.credential import object_name
    from harness.attest.enroll import EnrollmentError, activate, create_ek, ek_key_for_credential
    from harness.fixtures_support import open_session_esapi

    try:
        binding = json.loads(_read(package, BINDING).decode("utf-8"))
        public, _ = TPM2B_PUBLIC.unmarshal(_read(package, PUBLIC_TPM2B))
        cert = x509.load_pem_x509_certificate(_read(package, EK_CERT))
    except (TpmSigningError, OSError, ValueError, TypeError) as exc:
        return [f"TPM signing material unreadable: {str(exc)[:200]}"]
    name = object_name("sha256", public.publicArea.marshal())
    ek_type = binding.get("ek_type") if binding.get("ek_type") in EK_TYPES else "rsa"
    try:
        with open_session_esapi(uri) as (_target, esapi):
            _endorsement_auth(esapi)
            enrollment = create_ek(esapi, ek_type)
            try:
                ek_key = ek_key_for_credential(enrollment, None, False, ek_type)
                if _spki_sha256(ek_key) != _spki_sha256(cert.public_key()):
                    return [f"{_redacted(uri)}: its {ek_type.upper()} EK is not the key of "
                            f"{EK_CERT}: the package was not signed by this TPM"]
                handle, live, *_ = esapi.create_primary(None, signing_template(), ESYS_TR.ENDORSEMENT)
                enrollment.ak_handle, enrollment.ak_public = handle, live
                if object_name("sha256", live.publicArea.marshal()) != name:
                    return [f"{_redacted(uri)}: the signing key this TPM derives is not the "
                            "packaged key: the package was not signed by this TPM"]
                activate(esapi, enrollment, ek_key)
            finally:
                enrollment.flush(esapi)
    except (EnrollmentError, TSS2_Exception, HarnessError) as exc:
        return [f"live check on {_redacted(uri)} failed: {str(exc)[:200]}"]
    return []
