"""Fuzzing the attestation parsers: any input gives a result or one clear error line,
never a traceback, and no size field makes them allocate beyond the input."""

from __future__ import annotations

import struct
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.attest.describe import describe_event
from harness.attest.eventlog import EventLogError, parse_eventlog
from harness.attest.replay import check_event_data, replay
from tests.attest import realworld_logs as rw

AGILE = rw.encode_agile(rw.uefi_boot(), ["sha1", "sha256"])
SHA1 = rw.encode_sha1(rw.uefi_boot())
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _judge(data: bytes) -> None:
    """Parse, replay and describe; only EventLogError may escape, as one line."""
    try:
        log = parse_eventlog(data, "fuzz.log")
    except EventLogError as exc:
        text = str(exc)
        assert text.startswith("event log fuzz.log: ") and "\n" not in text
        return
    replay(log)
    check_event_data(log)
    for e in log.events:
        assert isinstance(describe_event(e), str)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(data):
    _judge(data)


@FUZZ
@given(base=st.sampled_from([AGILE, SHA1]), cut=st.integers(0, len(AGILE)))
def test_truncated_logs(base, cut):
    _judge(base[:cut])


@FUZZ
@given(base=st.sampled_from([AGILE, SHA1]), at=st.integers(0, len(AGILE) - 4),
       value=st.sampled_from([0, 1, 3, 4, 0x80000003, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF])
       | st.integers(0, 0xFFFFFFFF))
def test_overwritten_u32_fields(base, at, value):
    """Every u32 (sizes, digest counts, event types, PCR indices) set to odd values."""
    data = bytearray(base)
    if at + 4 <= len(data):
        struct.pack_into("<I", data, at, value)
    _judge(bytes(data))


@FUZZ
@given(pcr=st.integers(0, 0xFFFFFFFF), etype=st.integers(0, 0xFFFFFFFF),
       count=st.integers(0, 0xFFFFFFFF), algs=st.lists(st.integers(0, 0xFFFF), max_size=4),
       size=st.integers(0, 0xFFFFFFFF), tail=st.binary(max_size=80))
def test_hand_made_crypto_agile_events(pcr, etype, count, algs, size, tail):
    """Unknown event types, bad digest counts, unknown algorithms, huge sizes."""
    event = struct.pack("<III", pcr, etype, count) + b"".join(
        struct.pack("<H", a) + bytes(32) for a in algs) + struct.pack("<I", size) + tail
    _judge(rw.encode_agile([], ["sha256"]) + event)


def test_huge_sizes_allocate_nothing_beyond_the_input():
    header_end = len(rw.encode_agile([], ["sha256"]))
    worst = bytearray(AGILE)
    struct.pack_into("<I", worst, header_end + 12 + 2 * 2 + 20 + 32, 0xFFFFFFF0)  # eventSize
    sha1 = bytearray(SHA1)
    struct.pack_into("<I", sha1, 28, 0xFFFFFFF0)
    tracemalloc.start()
    try:
        for data in (bytes(worst), bytes(sha1), bytes(AGILE[:100]) + b"\xff" * 64):
            _judge(data)
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, f"parsing allocated {peak} bytes"


# --- IMA measurement lists ---
from harness.attest import ima as imalib  # noqa: E402
from tests.attest import ima_lists as il  # noqa: E402

IMA_BIN = b"".join(m.binary() for m in il.sample())
IMA_TXT = ("\n".join(m.ascii() for m in il.sample()) + "\n").encode()


def _judge_ima(data: bytes, ascii_list: bool) -> None:
    try:
        lst = imalib.parse_ascii(data, "fuzz") if ascii_list else imalib.parse_binary(data, "fuzz")
    except imalib.ImaListError as exc:
        assert str(exc).startswith("IMA list fuzz: entry #") and "\n" not in str(exc)
        return
    imalib.check_template_hashes(lst)
    imalib.replay_pcr(lst, "sha256")
    imalib.replay_pcr(lst, "sha256", legacy=True)


@FUZZ
@given(cut=st.integers(0, len(IMA_BIN)), at=st.integers(0, len(IMA_BIN) - 4),
       value=st.integers(0, 0xFFFFFFFF))
def test_ima_binary_truncated_and_overwritten(cut, at, value):
    data = bytearray(IMA_BIN)
    struct.pack_into("<I", data, at, value)
    _judge_ima(bytes(data[:cut]), False)
    _judge_ima(IMA_BIN[:cut], False)


@FUZZ
@given(st.binary(max_size=400))
def test_ima_random_bytes(data):
    _judge_ima(data, False)
    _judge_ima(data, True)


@FUZZ
@given(cut=st.integers(0, len(IMA_TXT)), noise=st.text(max_size=40))
def test_ima_ascii_damaged(cut, noise):
    _judge_ima(IMA_TXT[:cut] + noise.encode("utf-8", "surrogatepass") + IMA_TXT[cut:], True)


# --- tpm2-tools evidence files (offline mode) ---
from harness.attest import tpm2_files as tf  # noqa: E402
from harness.attest.quote import QuoteFormatError, parse_attest  # noqa: E402

SELECTION = [("sha1", [0, 1, 2, 10]), ("sha256", [0, 1, 2, 10])]


@FUZZ
@given(data=st.binary(max_size=1200))
def test_pcr_file_random(data):
    try:
        values, fmt = tf.parse_pcr_values(data, SELECTION, "quote.pcrs")
    except tf.EvidenceFileError as exc:
        assert str(exc).startswith("quote.pcrs: ") and "\n" not in str(exc)
        return
    assert fmt in ("serialized", "marshaled", "values") and set(values) <= {"sha1", "sha256"}


@FUZZ
@given(data=st.binary(max_size=300))
def test_attest_and_credential_random(data, tmp_path_factory):
    try:
        parse_attest(b"\xffTCG\x80\x18" + data)
    except QuoteFormatError as exc:
        assert "\n" not in str(exc)
    path = tmp_path_factory.mktemp("cred") / "cred.out"
    path.write_bytes(b"\xba\xdc\xc0\xde\x00\x00\x00\x01" + data)
    try:
        tf.read_credential(path)
    except tf.EvidenceFileError as exc:
        assert str(exc).startswith(f"credential {path}: ")
