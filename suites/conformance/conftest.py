"""Shared fixtures of the conformance suites, and the command-coverage ledger.

Fixtures (besides the plugin's ``expect_rc`` and ``raw_rc``): ``raw``
(send raw command bytes, get ``(rc, response)``), ``primary`` (create a
primary key from a template string). Every finished test hands its coverage
ledger entry to the session on its teardown report (see
:mod:`suites.conformance.coverage` and :mod:`tpm_hil_fixtures.coverage_gate`).
"""

from __future__ import annotations

import struct
from collections.abc import Generator

import pytest
from tpm2_pytss.constants import ESYS_TR
from tpm2_pytss.types import TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE

from harness.tpm.wire import TPM_ST_NO_SESSIONS, build_command
from tpm_hil_fixtures.markers import verified_commands
from suites.conformance import coverage

_OUTCOME = pytest.StashKey[str]()
_REASON = pytest.StashKey[str]()
COVERAGE_TEST = "test_command_coverage"


@pytest.fixture
def raw(tpm_raw):
    """``raw(code, body=b"", tag=TPM_ST_NO_SESSIONS) -> (rc, response)`` through the transport."""

    def send(code: int, body: bytes = b"", tag: int = TPM_ST_NO_SESSIONS) -> tuple[int, bytes]:
        response = tpm_raw.exchange(build_command(code, body, tag))
        return struct.unpack_from(">I", response, 6)[0], response

    return send


TPM_RS_PW = 0x40000009
TPM_ST_SESSIONS = 0x8002


_HIERARCHY_HANDLES = {0x40000001: "owner", 0x4000000A: "lockout", 0x4000000B: "endorsement"}


@pytest.fixture
def raw_pw(tpm_raw, hierarchy_auth):
    """``raw_pw(code, handles, params, auths=1, auth=None) -> (rc, response)``: a raw
    command with ``auths`` password sessions (TPM 2.0 Part 1 §19.8.4), for malformed or
    out-of-range inputs that ESAPI would refuse to send. ``auth=None`` uses the lab's
    auth value when the first handle is a hierarchy (owner, endorsement, lockout), else
    the empty password; a test that means a wrong password passes it explicitly."""

    def send(code: int, handles: list[int], params: bytes = b"", auths: int = 1,
             auth: bytes | None = None):
        if auth is None:
            first = _HIERARCHY_HANDLES.get(handles[0]) if handles else None
            auth = hierarchy_auth.get_auth(first) if first else b""
        session = struct.pack(">IHBH", TPM_RS_PW, 0, 0, len(auth)) + auth
        area = session * auths
        body = (b"".join(struct.pack(">I", h) for h in handles)
                + struct.pack(">I", len(area)) + area + params)
        response = tpm_raw.exchange(build_command(code, body, TPM_ST_SESSIONS))
        return struct.unpack_from(">I", response, 6)[0], response

    return send


@pytest.fixture
def power_cycle(tpm_raw):
    """``power_cycle()``: TPM_Init through the target (swtpm control channel, a rig's
    supply); the test is skipped on targets that cannot be power cycled."""
    if not getattr(tpm_raw, "can_power_cycle", False):
        pytest.skip(f"{tpm_raw.name} cannot be power cycled (no control channel or rig)")
    return tpm_raw.power_cycle


_HIERARCHY_NEEDS = {ESYS_TR.OWNER: "hierarchy:owner", ESYS_TR.ENDORSEMENT: "hierarchy:endorsement",
                    ESYS_TR.PLATFORM: "hierarchy:platform"}


@pytest.fixture
def primary(tpm, caps):
    """``primary(template, attrs=None, hierarchy=OWNER, auth=b"") -> (handle, TPM2B_PUBLIC)``;
    the test is skipped, naming why, when that hierarchy is disabled or its auth unknown."""

    def make(template: str, attrs: str | None = None, hierarchy=ESYS_TR.OWNER,
             auth: bytes = b""):
        need = _HIERARCHY_NEEDS.get(hierarchy)
        if need:
            caps.require(need)
        public = (TPM2B_PUBLIC.parse(template, objectAttributes=attrs) if attrs
                  else TPM2B_PUBLIC.parse(template))
        sensitive = TPM2B_SENSITIVE_CREATE()
        if auth:
            sensitive.sensitive.userAuth = auth
        handle, out_public, _, _, _ = tpm.create_primary(sensitive, public, hierarchy)
        return handle, out_public

    return make


# -- coverage ledger -------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that change the endorsement seed (marker registered by the plugin) run after
    every other test."""
    seed = [i for i in items if i.get_closest_marker("endorsement_seed")]
    if seed:
        items[:] = [i for i in items if i not in seed] + seed


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # trylast: innermost wrapper, so this runs before the plugin drains the log.
    report = yield
    _note(item, report)
    return report


def _note(item: pytest.Item, report: pytest.TestReport) -> None:
    if report.when == "setup" and not report.passed:
        item.stash[_OUTCOME] = report.outcome
        item.stash[_REASON] = _skip_reason(report)
    elif report.when == "call":
        item.stash[_OUTCOME] = report.outcome
        item.stash[_REASON] = _skip_reason(report)
    elif report.when == "teardown":
        if report.failed:
            item.stash[_OUTCOME] = "failed"
        if item.name == COVERAGE_TEST:
            _attach_advertised(item, report)
            return
        rows = []
        log = _session_log(item.config)
        if log is not None:
            rows = [r for r in log.peek() if r.test == item.nodeid]
        setattr(report, coverage.REPORT_ATTR, coverage.entry(
            item.nodeid, item.stash.get(_OUTCOME, "skipped"),
            item.get_closest_marker("negative") is not None, rows,
            verifies=verified_commands(item), reason=item.stash.get(_REASON, "")))


def _attach_advertised(item: pytest.Item, report: pytest.TestReport) -> None:
    """The gate test passed: the chip's advertised commands go to the session's gate."""
    from tpm_hil_fixtures.plugin import session_of

    session = session_of(item.config)
    caps = None if session is None else session.caps
    if item.stash.get(_OUTCOME, "") == "passed" and caps is not None:
        setattr(report, coverage.ADVERTISED_ATTR, sorted(int(c) for c in caps.command_codes))


def _skip_reason(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return ""


def _session_log(config: pytest.Config):
    from tpm_hil_fixtures.plugin import session_of

    session = session_of(config)
    return None if session is None or session.transport is None else session.log
