"""Sampling: the per-step math (schedule), the settings, the records a run emits, and the loop (sampler).

Imports only the core (model, loading); everything after it (trace, views, app) imports from here.
"""

from .record import Canvas, Resume, StepRecord
from .sampler import Denoising, candidates_at, denoise, denoise_batch, generate
from .schedule import REMASKING_STRATEGIES, Schedule, plan_schedule
from .settings import SamplingSettings

__all__ = ["Canvas", "Denoising", "REMASKING_STRATEGIES", "Resume", "SamplingSettings", "Schedule", "StepRecord",
           "candidates_at", "denoise", "denoise_batch", "generate", "plan_schedule"]
