"""Sampling: the per-step math (schedule), the settings, the records a run emits, and the loop (sampler).

Imports only the core (model, loading); everything after it (trace, views, app) imports from here.
"""

from .record import Canvas, StepRecord
from .sampler import Denoising, denoise, denoise_batch, generate
from .schedule import REMASKING_STRATEGIES, Schedule, plan_schedule
from .settings import SamplingSettings

__all__ = ["Canvas", "Denoising", "REMASKING_STRATEGIES", "SamplingSettings", "Schedule", "StepRecord", "denoise",
           "denoise_batch", "generate", "plan_schedule"]
