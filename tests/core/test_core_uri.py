import pytest

from harness.errors import TargetURIError
from harness.targets.registry import accepted_forms, open_target, resolve
from harness.targets.uri import parse_target


@pytest.mark.parametrize("text, scheme, host, port, path", [
    ("swtpm", "swtpm", "", None, ""),
    ("swtpm://127.0.0.1:2321", "swtpm", "127.0.0.1", 2321, ""),
    ("mssim://localhost:2321", "mssim", "localhost", 2321, ""),
    ("device:///dev/tpmrm0", "device", "", None, "/dev/tpmrm0"),
    ("spi:///dev/spidev0.1?hz=10000000&chip=st33ktpm2x", "spi", "", None, "/dev/spidev0.1"),
])
def test_forms_parse(text, scheme, host, port, path):
    uri = parse_target(text)
    assert (uri.scheme, uri.host, uri.port, uri.path) == (scheme, host, port, path)


def test_query_parameters_are_typed():
    uri = parse_target("spi:///dev/spidev0.1?hz=10000000&addr=0x2e&fd=1&v=3.3")
    assert uri.int_param("hz") == 10_000_000
    assert uri.int_param("addr") == 0x2E
    assert uri.bool_param("fd") is True
    assert uri.float_param("v") == 3.3
    with pytest.raises(TargetURIError, match="parameter v='3.3' is not an integer"):
        uri.int_param("v")


@pytest.mark.parametrize("bad", ["", "   ", "swtpm://127.0.0.1:notaport", "what is this", "://x"])
def test_malformed_strings_fail_with_accepted_forms(bad):
    with pytest.raises(TargetURIError) as exc:
        resolve(bad)
    assert "accepted target strings" in str(exc.value)
    assert "swtpm" in str(exc.value) and "device:///dev/tpmrm0" in str(exc.value)


def test_unknown_kind_names_the_kind():
    with pytest.raises(TargetURIError, match="unknown target kind 'bogus'"):
        resolve("bogus://x")


def test_default_comes_from_environment(monkeypatch):
    monkeypatch.setenv("TPMHIL_TARGET", "swtpm://10.0.0.1:2321")
    assert resolve(None).host == "10.0.0.1"
    monkeypatch.delenv("TPMHIL_TARGET")
    assert resolve(None).scheme == "swtpm"


def test_swtpm_socket_target_needs_a_port():
    with pytest.raises(TargetURIError, match="expected mssim://HOST:PORT"):
        open_target("mssim://127.0.0.1")


def test_device_target_needs_a_dev_path():
    with pytest.raises(TargetURIError, match="device:///dev/tpmrm0"):
        open_target("device://tpm0")


def test_accepted_forms_lists_builtins():
    text = accepted_forms()
    for scheme in ("swtpm", "mssim://", "device://"):
        assert scheme in text


@pytest.mark.parametrize("text, match", [
    ("swtpm://", r"expected swtpm://HOST:PORT"),
    ("swtpm://127.0.0.1", r"expected swtpm://HOST:PORT"),
    ("mssim://", r"expected mssim://HOST:PORT"),
    ("swtpm?bank=sha256", r"unknown parameter 'bank'"),
    ("device:///dev/tpmrm0?timeout=5", r"unknown parameter 'timeout'"),
    ("spi:///dev/spidev0.1?hz=1000000&speed=9", r"unknown parameter 'speed'"),
    ("labgrid://board-a?coordinator=h:1&wiat=5", r"unknown parameter 'wiat'"),
])
def test_incomplete_strings_and_unknown_parameters_are_errors(text, match):
    with pytest.raises(TargetURIError, match=match):
        resolve(text)


@pytest.mark.parametrize("text", ["swtpm", "swtpm?banks=sha256&ekcert=0", "swtpm://127.0.0.1:2321",
                                  "spi+sim://st33ktpm?faults=waits:2&platform=0",
                                  "labgrid://board-a?coordinator=h:1&wait=5"])
def test_known_parameters_pass(text):
    assert resolve(text).text == text
