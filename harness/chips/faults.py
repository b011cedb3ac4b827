"""Faults a virtual chip injects, adjustable at run time by another component.

Rates apply to every transaction from then on; ``*_next`` counters inject a
fault into exactly the next N occasions (deterministic tests). Another thread
(an environment coupling model, a test) may change any attribute at any time;
each is read once per bus transaction. ``injected`` counts what was injected.

Target strings carry a plan as ``faults=name:value,...``, e.g.
``spi+sim://st33ktpm?faults=waits:2,storm:0.01,corrupt:0.001,delay_ms:5,retry:0.05,seed:7``.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field, fields

from harness.errors import ConfigError


@dataclass
class FaultPlan:
    """What goes wrong, and how often.

    Attributes:
        wait_states: SPI wait states before every transaction's data (0 = none).
        storm_rate: probability that a SPI transaction gets a wait-state storm.
        storm_length: wait states in one storm.
        storm_next: the next N SPI transactions get a storm.
        nack_rate: probability that an I2C message starts a NACK burst.
        nack_burst: messages NACKed per burst.
        nack_next: the next N I2C messages are NACKed.
        corrupt_rate: probability that a response read has one byte flipped on
            MISO/SDA (on SPI within the tag/size header, the only part a SPI
            host can check; on I2C anywhere: TPM_DATA_CSUM catches it).
        corrupt_next: the next N response reads are corrupted.
        corrupt_body: on SPI, let corruption hit the whole response, body
            included (only a host reading twice, ``verify=1``, can see it).
        exec_delay_s: extra execution time of every command (slower execution).
        reset_next_command: reset the chip (power cycle) when the next command
            is started with tpmGo: the command is lost mid-way.
        dead: the chip stops answering (MISO stuck high, I2C NACKs everything).
        retry_rate: probability that a command is answered TPM_RC_RETRY without
            being executed (TPM 2.0 Part 2 §6.6.3: the host sends it again);
            1.0 is a chip that asks for a retry forever.
        retry_next: the next N commands are answered TPM_RC_RETRY.
        seed: random seed of the rate-based faults.
    """

    wait_states: int = 0
    storm_rate: float = 0.0
    storm_length: int = 200
    storm_next: int = 0
    nack_rate: float = 0.0
    nack_burst: int = 4
    nack_next: int = 0
    corrupt_rate: float = 0.0
    corrupt_next: int = 0
    corrupt_body: bool = False
    exec_delay_s: float = 0.0
    reset_next_command: bool = False
    dead: bool = False
    retry_rate: float = 0.0
    retry_next: int = 0
    seed: int | None = None
    injected: Counter = field(default_factory=Counter, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # -- for the environment coupling / tests --------------------------------

    def set(self, **changes: object) -> None:
        """Change attributes by name, e.g. ``set(nack_rate=0.05, exec_delay_s=0.01)``.

        Raises:
            ConfigError: unknown attribute name.
        """
        known = {f.name for f in fields(self)} - {"injected"}
        for name, value in changes.items():
            if name not in known:
                raise ConfigError(f"unknown fault {name!r} (known: {', '.join(sorted(known))})")
            setattr(self, name, value)
            if name == "seed":
                self.rng = random.Random(value)

    def clear(self) -> None:
        """Back to a healthy chip (keeps ``injected``)."""
        self.set(wait_states=0, storm_rate=0.0, storm_next=0, nack_rate=0.0, nack_next=0,
                 corrupt_rate=0.0, corrupt_next=0, corrupt_body=False, exec_delay_s=0.0, reset_next_command=False,
                 dead=False, retry_rate=0.0, retry_next=0)

    # -- asked by the chip ---------------------------------------------------

    def spi_wait_states(self) -> int:
        waits = self.wait_states
        if self.storm_next > 0:
            self.storm_next -= 1
            waits += self.storm_length
            self.injected["wait_storm"] += 1
        elif self.storm_rate and self.rng.random() < self.storm_rate:
            waits += self.storm_length
            self.injected["wait_storm"] += 1
        return waits

    def nack_now(self) -> bool:
        if self.nack_next <= 0 and self.nack_rate and self.rng.random() < self.nack_rate:
            self.nack_next = self.nack_burst
        if self.nack_next > 0:
            self.nack_next -= 1
            self.injected["nack"] += 1
            return True
        return False

    def corrupt_now(self) -> bool:
        if self.corrupt_next > 0:
            self.corrupt_next -= 1
        elif not (self.corrupt_rate and self.rng.random() < self.corrupt_rate):
            return False
        self.injected["corrupt"] += 1
        return True

    def retry_now(self) -> bool:
        if self.retry_next > 0:
            self.retry_next -= 1
        elif not (self.retry_rate and (self.retry_rate >= 1.0 or self.rng.random() < self.retry_rate)):
            return False
        self.injected["retry"] += 1
        return True

    def take_reset(self) -> bool:
        if self.reset_next_command:
            self.reset_next_command = False
            self.injected["reset"] += 1
            return True
        return False


_ALIASES = {
    "waits": ("wait_states", int), "storm": ("storm_rate", float),
    "storm_len": ("storm_length", int), "nack": ("nack_rate", float),
    "nack_burst": ("nack_burst", int), "corrupt": ("corrupt_rate", float),
    "delay_ms": ("exec_delay_s", lambda v: float(v) / 1000.0), "seed": ("seed", int),
    "retry": ("retry_rate", float),
    "dead": ("dead", lambda v: v.lower() in ("1", "true", "yes", "on")),
    "corrupt_body": ("corrupt_body", lambda v: v.lower() in ("1", "true", "yes", "on")),
}


def parse_faults(text: str | None) -> FaultPlan:
    """Build a plan from ``name:value,...`` (names: waits, storm, storm_len, nack,
    nack_burst, corrupt, corrupt_body, delay_ms, retry, seed, dead).

    Raises:
        ConfigError: unknown name or bad value, naming it.
    """
    plan = FaultPlan()
    if not text:
        return plan
    changes: dict[str, object] = {}
    for item in text.split(","):
        name, sep, value = item.partition(":")
        if not sep or name.strip() not in _ALIASES:
            raise ConfigError(f"faults={text!r}: {item!r} is not name:value with a name among "
                              f"{', '.join(_ALIASES)}")
        attr, conv = _ALIASES[name.strip()]
        try:
            changes[attr] = conv(value.strip())
        except ValueError:
            raise ConfigError(f"faults={text!r}: {name}:{value} is not a valid value") from None
        if attr.endswith("_rate") and not 0.0 <= changes[attr] <= 1.0:
            raise ConfigError(f"faults={text!r}: {name}:{value} is not a probability (0 to 1)")
    plan.set(**changes)
    return plan
