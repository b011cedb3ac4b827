"""Targets: what a target string names, and how to reach it."""

from harness.targets.base import Target
from harness.targets.registry import TargetForm, accepted_forms, open_target, register, resolve
from harness.targets.uri import TargetURI, parse_target

__all__ = ["Target", "TargetForm", "TargetURI", "accepted_forms", "open_target", "parse_target",
           "register", "resolve"]
