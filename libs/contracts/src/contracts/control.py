"""Operator control events (fixed subjects ``control.*``)."""

from __future__ import annotations

from contracts.envelope import Event


class EmergencyStopRequested(Event, frozen=True, kw_only=True, tag="control.emergency_stop"):
    """Interrupt all our prompts on every backend and pause dispatch until resumed."""

    reason: str = ""
    requested_by: str = ""


class DispatchResumed(Event, frozen=True, kw_only=True, tag="control.resumed"):
    """Dispatch may go on after an emergency stop."""

    requested_by: str = ""


ControlEvent = EmergencyStopRequested | DispatchResumed
