"""Whether a target gives every pytest process a TPM of its own.

Several pytest-xdist workers on one physical chip would interleave commands
and clean up each other's objects: the plugin and ``tpmhil run`` refuse it.
"""

from __future__ import annotations

from harness.targets.base import Target

PER_WORKER_FORMS = "swtpm (spawned), spi+sim://CHIP, i2c+sim://CHIP"


def per_worker(target: Target) -> bool:
    """Whether every pytest process opening ``target`` gets a TPM of its own.

    A target may say so itself (``per_worker`` attribute); otherwise: a spawned
    swtpm without a shared ``state=`` folder and the virtual bus chips (each
    spawns its own backing swtpm) do; a gateway simulator does when its backend
    does; every other target (device, bus, external swtpm/mssim, labgrid) is one
    TPM for everyone.
    """
    explicit = getattr(target, "per_worker", None)
    if explicit is not None:
        return bool(explicit)
    from harness.targets.bus import SimBusTarget
    from harness.targets.swtpm import SpawnedSwtpmTarget

    if isinstance(target, SpawnedSwtpmTarget):
        return target.uri.param("state") is None  # a kept state folder is shared
    if isinstance(target, SimBusTarget):
        return True
    backend = getattr(target, "backend_target", None)
    return backend is not None and per_worker(backend)
