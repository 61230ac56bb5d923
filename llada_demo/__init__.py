"""llada-demo: watch a LLaDA-style masked diffusion language model write."""

from .loading import LoadedModel, ModelLoadError, load_model, save_checkpoint
from .model import LLaDAConfig, LLaDAModelLM
from .sampler import Frame, denoise, generate
from .schedule import REMASKING_STRATEGIES, Schedule, plan_schedule

__all__ = ["Frame", "LLaDAConfig", "LLaDAModelLM", "LoadedModel", "ModelLoadError", "REMASKING_STRATEGIES",
           "Schedule", "denoise", "generate", "load_model", "plan_schedule", "save_checkpoint"]
