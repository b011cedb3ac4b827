"""FIPS 140-3 EFP/EFT check at a campaign point: the chip must answer
correctly or not at all, never wrongly.

Each round sends three known-answer operations and checks the answers in
software:

* TPM2_Hash (TPM 2.0 Part 3 §15.4) of a fixed message with SHA-256,
  compared with :mod:`hashlib`;
* TPM2_CreatePrimary (Part 3 §24.1) of an ECC P-256 signing key, TPM2_Sign
  (Part 3 §20.2) of a fixed digest, the signature verified with
  ``cryptography`` against the public key the chip returned;
* TPM2_GetRandom (Part 3 §16.1) of 16 bytes: exactly 16 bytes come back.

Each operation's outcome is ``correct``, ``no_answer`` (timeout, transport
error, or an error response such as TPM_RC_FAILURE: the chip stopped, which
ISO/IEC 19790 §7.8 EFP/EFT allows) or ``wrong`` (an answer that is
malformed or disagrees with the known answer: never allowed). The point's
verdict is FAIL if any operation was wrong, else PASS.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from harness.errors import HarnessError

MESSAGE = b"tpm-hil EFP/EFT known-answer message\x00\x01\x02"
DIGEST = hashlib.sha256(b"tpm-hil EFP/EFT digest to sign").digest()
TPM_LAYER_MASK = 0xFFFF0000
TCTI_LAYER = 0x000A0000
REQUIREMENTS = ("FIPS140-3:EFP/EFT", "IEC62443-4-2:CR 3.3")


@dataclass
class EfpResult:
    rounds: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"correct": 0, "no_answer": 0, "wrong": 0})
    wrong_details: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "FAIL" if self.counts["wrong"] else "PASS"

    def note(self, op: str, outcome: str, detail: str = "") -> None:
        self.counts[outcome] += 1
        if outcome == "wrong":
            self.wrong_details.append(f"{op}: {detail}")

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "rounds": self.rounds, **self.counts,
                "wrong_details": self.wrong_details[:20]}


def _classify(exc: BaseException) -> str:
    """no_answer for errors that mean the chip stopped, wrong for malformed answers."""
    from tpm2_pytss import TSS2_Exception

    if isinstance(exc, TSS2_Exception):
        # Layer 0 is the TPM itself (an error code is a refusal, not a wrong answer);
        # the TCTI layer means nothing (usable) came back. Anything the ESAPI or
        # marshalling layers reject is an answer that was malformed: wrong.
        return "no_answer" if (int(exc.rc) & TPM_LAYER_MASK) in (0, TCTI_LAYER) else "wrong"
    if isinstance(exc, HarnessError):
        return "no_answer"
    return "wrong"


def _hash_op(esapi) -> tuple[str, str]:
    from tpm2_pytss.constants import ESYS_TR, TPM2_ALG

    digest, _ticket = esapi.hash(MESSAGE, TPM2_ALG.SHA256, ESYS_TR.OWNER)
    got = bytes(digest)
    want = hashlib.sha256(MESSAGE).digest()
    return ("correct", "") if got == want else ("wrong", f"SHA-256 {got.hex()} != {want.hex()}")


def _sign_op(esapi) -> tuple[str, str]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_ST
    from tpm2_pytss.types import TPM2B_PUBLIC, TPMT_SIG_SCHEME, TPMT_TK_HASHCHECK

    template = TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256",
                                  objectAttributes="sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth")
    handle, public, *_ = esapi.create_primary(None, template, primary_handle=ESYS_TR.OWNER)
    try:
        validation = TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=0x40000007)
        sig = esapi.sign(handle, DIGEST, TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL), validation)
    finally:
        try:
            esapi.flush_context(handle)
        except Exception:  # noqa: BLE001 - must not mask the sign's own outcome
            pass
    point = public.publicArea.unique.ecc
    x, y = int.from_bytes(bytes(point.x), "big"), int.from_bytes(bytes(point.y), "big")
    try:
        key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError as exc:
        return "wrong", f"public key not on P-256: {exc}"
    r = int.from_bytes(bytes(sig.signature.ecdsa.signatureR), "big")
    s = int.from_bytes(bytes(sig.signature.ecdsa.signatureS), "big")
    try:
        key.verify(utils.encode_dss_signature(r, s), DIGEST, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except InvalidSignature:
        return "wrong", "ECDSA signature does not verify against the returned key"
    return "correct", ""


def _random_op(esapi) -> tuple[str, str]:
    data = bytes(esapi.get_random(16))
    return ("correct", "") if len(data) == 16 else ("wrong", f"asked 16 bytes, got {len(data)}")


def _flush_transients(transport) -> None:
    """Best effort: flush transient objects an interrupted round left behind
    (TPM2_GetCapability HANDLES, then TPM2_FlushContext, Part 3 §28.4)."""
    from harness.tpm.wire import build_command

    try:
        rsp = transport.exchange(build_command(0x17A, (1).to_bytes(4, "big") +
                                               (0x80000000).to_bytes(4, "big") + (16).to_bytes(4, "big")))
        if int.from_bytes(rsp[6:10], "big") != 0 or len(rsp) < 19:
            return
        count = int.from_bytes(rsp[15:19], "big")
        handles = [int.from_bytes(rsp[19 + 4 * i: 23 + 4 * i], "big") for i in range(min(count, 16))]
        for handle in handles:
            transport.exchange(build_command(0x165, handle.to_bytes(4, "big")))
    except Exception:  # noqa: BLE001 - the chip may still be unwell; the next round tells
        transport.abandon()


def run_efp_check(transport, rounds: int = 3) -> EfpResult:
    """Run ``rounds`` rounds of known-answer operations through ``transport``."""
    from harness.transports.tcti import open_esapi
    from tpm2_pytss import TSS2_Exception
    from tpm2_pytss.constants import TPM2_RC, TPM2_SU

    result = EfpResult()
    for _ in range(rounds):
        result.rounds += 1
        for name, op in (("hash", _hash_op), ("sign", _sign_op), ("random", _random_op)):
            # A fresh ESAPI context per operation: a failed exchange (even in the
            # sign's FlushContext) must not leave the next operation out of step.
            transport.abandon()
            esapi = open_esapi(transport)
            try:
                try:
                    outcome, detail = op(esapi)
                except TSS2_Exception as exc:
                    if int(exc.rc) == int(TPM2_RC.INITIALIZE):  # TPM layer: reset by a brown-out
                        try:
                            esapi.startup(TPM2_SU.CLEAR)
                        except Exception:  # noqa: BLE001 - the next operation tells
                            pass
                        outcome, detail = "no_answer", "TPM_RC_INITIALIZE (chip was reset)"
                    else:
                        outcome, detail = _classify(exc), str(exc)
                except Exception as exc:  # noqa: BLE001 - classified, never swallowed silently
                    outcome, detail = _classify(exc), f"{type(exc).__name__}: {exc}"
            finally:
                try:
                    esapi.close()
                except Exception:  # noqa: BLE001 - a broken context is being dropped
                    pass
            result.note(name, outcome, detail)
            if outcome != "correct":
                _flush_transients(transport)
    return result
