"""Measured boot and attestation: event log replay, AK enrollment through the EK, quotes."""
