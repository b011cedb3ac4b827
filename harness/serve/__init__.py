"""Remote TPM access: serve any target over swtpm's socket protocol."""

from harness.serve.server import ServeOptions, TpmServer

__all__ = ["ServeOptions", "TpmServer"]
