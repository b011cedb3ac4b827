"""TPM 2.0 wire-level knowledge shared by every transport: headers, command
names, response codes and the TCG command-duration classes."""
