"""Trace: a run kept as records (Trajectory) and its compact wire format. Imports sampling only."""

from .trajectory import StepView, Trajectory

__all__ = ["StepView", "Trajectory"]
