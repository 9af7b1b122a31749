"""Operator control events (fixed subjects ``control.*``)."""

from __future__ import annotations

from contracts import subjects
from contracts.envelope import Event


class EmergencyStopRequested(Event, frozen=True, kw_only=True, tag=subjects.CONTROL_EMERGENCY_STOP):
    """Interrupt all our prompts on every backend and pause dispatch until resumed."""

    reason: str = ""
    requested_by: str = ""


class DispatchResumed(Event, frozen=True, kw_only=True, tag=subjects.CONTROL_RESUMED):
    """Dispatch may go on after an emergency stop."""

    requested_by: str = ""
