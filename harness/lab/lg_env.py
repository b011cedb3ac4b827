"""labgrid's ``--lg-env`` environment files, as tpm-hil target strings.

A labgrid environment names the place of a role with a ``RemotePlace``
resource and may name the coordinator (``options: coordinator_address``)::

    targets:
      main:
        resources:
          RemotePlace:
            name: board-a
    options:
      coordinator_address: 192.168.1.2:20408

:func:`tpm_uri_from_lg_env` turns that into a target string:

* when the role names a ``TpmHilDriver`` (:mod:`harness.lab.labgrid_driver`),
  ``lgenv:///PATH?role=main``: labgrid itself builds the target, binds the
  drivers to the place's resources and lets the user use the place only if they
  acquired it (``labgrid-client -p board-a acquire``) or were allowed to; power
  cycles go through the place's power driver;
* otherwise ``labgrid://board-a?coordinator=...``, the same place as
  ``--tpm labgrid://board-a`` (used as it is when the user holds it, else
  acquired for the run and released).
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import ConfigError
from harness.lab.coordinator import ENV_COORDINATOR


def tpm_uri_from_lg_env(path: str | os.PathLike[str], role: str = "main") -> str:
    """The ``labgrid://`` target string of ``role``'s RemotePlace in a labgrid env file.

    Raises:
        ConfigError: the file is missing or unreadable, or the role has no RemotePlace.
    """
    from labgrid.config import Config
    from labgrid.factory import target_factory

    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"--lg-env {source}: no such file")
    try:
        config = Config(str(source))
    except Exception as exc:  # labgrid raises its own attrs exceptions or YAML errors
        raise ConfigError(f"--lg-env {source}: not a labgrid environment ({exc})") from exc
    targets = config.get_targets() or {}
    if role not in targets:
        raise ConfigError(f"--lg-env {source}: no target named {role!r} "
                          f"(found: {', '.join(targets) or 'none'})")
    resources, _ = target_factory.normalize_config(targets[role])
    places = resources.get("RemotePlace") or {}
    if len(places) != 1:
        raise ConfigError(f"--lg-env {source}: target {role!r} needs exactly one RemotePlace "
                          f"resource (found {len(places)})")
    (place,) = places  # normalize_config keys resources by their name: the place's name
    drivers = (targets[role] or {}).get("drivers") or {}
    names = set(drivers) if isinstance(drivers, dict) else {
        next(iter(d)) for d in drivers if isinstance(d, dict) and d}
    if "TpmHilDriver" in names:
        query = "" if role == "main" else f"?role={role}"
        return f"lgenv://{source.resolve()}{query}"
    coordinator = (os.environ.get(ENV_COORDINATOR)
                   or config.get_option("coordinator_address", None))
    return f"labgrid://{place}" + (f"?coordinator={coordinator}" if coordinator else "")
