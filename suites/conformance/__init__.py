"""Conformance suites: the chip judged against the TPM 2.0 Library specification
and its chip profile, area by area (sessions, keys, KATs, RNG, NV, lifecycle,
robustness, profile, self-tests), with command coverage checked per run."""
