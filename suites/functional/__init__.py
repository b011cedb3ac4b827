"""Functional suite: startup, random, capabilities, PCRs, NV, keys, sealing, quotes, EK."""
