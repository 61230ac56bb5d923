"""llada-demo: watch a LLaDA-style masked diffusion language model write.

Layers, each importing only those before it: core (model, loading) -> sampling -> trace -> views -> app;
training (train, evaluate, corpus, tokenizer) -> core.
"""

from .loading import LoadedModel, ModelLoadError, load_model, save_checkpoint
from .model import LLaDAConfig, LLaDAModelLM
from .sampling import (REMASKING_STRATEGIES, Canvas, SamplingSettings, Schedule, StepRecord, denoise, denoise_batch,
                       generate, plan_schedule)

__all__ = ["Canvas", "LLaDAConfig", "LLaDAModelLM", "LoadedModel", "ModelLoadError", "REMASKING_STRATEGIES",
           "SamplingSettings", "Schedule", "StepRecord", "denoise", "denoise_batch", "generate", "load_model",
           "plan_schedule", "save_checkpoint"]
