"""An EK chain that does not verify says which roots were tried and how to name the right one."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.attest.enroll import EnrollmentError, verify_chain


def _cert(subject: str, issuer: str, key, signer, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=9))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256()))


def test_same_named_root_with_another_key_names_the_roots_tried_and_the_fix():
    ours, theirs, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    local_ca = _cert("swtpm-localca", "swtpm-localca", ours, ours, True)
    leaf = _cert("unknown", "swtpm-localca", leaf_key, theirs, False)   # an external swtpm's CA
    with pytest.raises(EnrollmentError) as exc:
        verify_chain(leaf, [local_ca])
    text = str(exc.value)
    assert "roots tried: CN=swtpm-localca (1 certificate)" in text
    assert "--ek-ca FILE or $TPMHIL_EK_ROOTS" in text


def test_no_matching_issuer_also_names_the_roots_tried():
    k = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(EnrollmentError, match=r"no CA certificate for issuer 'CN=vendor'; "
                                              r"roots tried: CN=other"):
        verify_chain(_cert("ek", "vendor", k, k, False), [_cert("other", "other", k, k, True)])
