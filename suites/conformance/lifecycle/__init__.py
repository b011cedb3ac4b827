"""PCRs, startup/shutdown, clock, hierarchies, dictionary-attack protection, self-tests, RNG (TPM 2.0 Part 3 §9-§10, §16, §22, §24-§25, §29)."""
