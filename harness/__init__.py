"""tpm-hil: hardware-in-the-loop test harness for TPM 2.0 chips.

Data flows one way: target -> transport -> results store -> reports.
"""

__version__ = "0.1.0"

import os as _os

# tpm2-tss logs every TPM error response to stderr; the harness records and
# reports them itself, so keep the TSS quiet unless the user asked otherwise.
_os.environ.setdefault("TSS2_LOG", "all+NONE")
