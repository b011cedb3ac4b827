"""Known chip weaknesses: advisories, ROCA keys, nonce-timing leakage,
reference-library probes and EK credential checks (``tpmhil audit``)."""
