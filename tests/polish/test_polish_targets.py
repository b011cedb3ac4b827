"""Target-string checks the QA walk-through found missing."""

from __future__ import annotations

import pytest

from harness.errors import TargetURIError
from harness.targets.registry import open_target


@pytest.mark.parametrize("banks, named", [("md5", "'md5'"), ("sha256,sm3", "'sm3'"),
                                          ("", "banks= is empty")])
def test_swtpm_banks_are_checked_before_swtpm_setup_runs(banks, named):
    with pytest.raises(TargetURIError) as exc:
        open_target(f"swtpm?banks={banks}")
    text = str(exc.value)
    assert named in text and "sha1, sha256, sha384, sha512" in text and "\n" not in text


def test_swtpm_banks_accepts_what_swtpm_supports():
    target = open_target("swtpm?banks=SHA256,sha512")
    assert target.options.banks == ("sha256", "sha512")
    assert open_target("swtpm").options.banks == ("sha1", "sha256", "sha384")


def test_target_errors_and_redaction_never_carry_an_auth_value():
    from harness.targets.registry import resolve

    for bad in ("i2c+sim://slb9673?owner_auth=00112233&x=1", "bogus://h?owner_auth=00112233"):
        with pytest.raises(TargetURIError) as exc:
            resolve(bad)
        assert "00112233" not in str(exc.value)
    assert resolve("i2c+sim://slb9673?owner_auth=00112233").redacted() == \
        "i2c+sim://slb9673?owner_auth=[REDACTED]"   # not "[REDACTED]]"
