"""Malformed and truncated commands sent as raw bytes (TPM 2.0 Part 3 §5)."""
