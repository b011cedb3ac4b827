import pytest

from harness.chip_profile import available_profiles, load_profile, profile_for_chip
from harness.errors import ProfileError


@pytest.mark.parametrize("name", available_profiles())
def test_bundled_profiles_load(name):
    profile = load_profile(name)
    assert profile.name == name
    assert profile.durations.bounds["short"] > 0


def test_profile_is_picked_by_manufacturer_and_vendor():
    assert profile_for_chip("IBM", "SW   TPM").name == "swtpm"
    assert profile_for_chip("IFX", "SLB9673").name == "slb9673"
    assert profile_for_chip("XYZ", "unknown") is None


def _write(tmp_path, text):
    path = tmp_path / "chip.yaml"
    path.write_text(text)
    return path


BASE = ("name: x\nmanufacturer: ABC\nalgorithms: [rsa]\npcr_banks: [sha256]\n"
        "durations_ms: {short: 10}\n")


@pytest.mark.parametrize("extra, fragment", [
    ("colour: blue\n", "field 'colour': unknown field"),
    ("rsa_key_sizes: 2048\n", "field 'rsa_key_sizes': expected list, got int 2048"),
    ("timeouts_ms: {e: 1}\n", "field 'timeouts_ms.e': expected one of a, b, c, d"),
    ("command_classes: {Frobnicate: long}\n", "field 'command_classes.Frobnicate': unknown TPM command"),
    ("latency_ms: {TPM2_GetRandom: 5}\n", "field 'latency_ms.TPM2_GetRandom'"),
])
def test_broken_profile_names_file_and_field(tmp_path, extra, fragment):
    path = _write(tmp_path, BASE + extra)
    with pytest.raises(ProfileError) as exc:
        load_profile(str(path))
    assert str(path) in str(exc.value) and fragment in str(exc.value)


def test_missing_required_field(tmp_path):
    path = _write(tmp_path, "name: x\nmanufacturer: ABC\n")
    with pytest.raises(ProfileError, match="field 'algorithms': is required"):
        load_profile(str(path))


def test_bad_duration_class_and_value(tmp_path):
    with pytest.raises(ProfileError, match="durations_ms.forever"):
        load_profile(str(_write(tmp_path, BASE.replace("{short: 10}", "{forever: 10}"))))
    with pytest.raises(ProfileError, match="expected a positive number of ms, got -1"):
        load_profile(str(_write(tmp_path, BASE.replace("{short: 10}", "{short: -1}"))))


def test_invalid_yaml(tmp_path):
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(str(_write(tmp_path, "name: [unclosed\n")))


def test_unknown_profile_name_lists_known():
    with pytest.raises(ProfileError, match="known: .*swtpm"):
        load_profile("nonesuch")
