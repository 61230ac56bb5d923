"""llada-demo: watch a LLaDA-style masked diffusion language model write.

Layers, each importing only those before it: core (model, loading, prompts) -> sampling -> trace -> views
-> app; training (train, evaluate, corpus, tokenizer) -> core.
"""

from .loading import LoadedModel, ModelLoadError, load_model, save_checkpoint
from .model import LLaDAConfig, LLaDAModelLM
from .prompts import MASK_PLACEHOLDER, infill_ids, parse_constraints, prompt_ids
from .sampling import (REMASKING_STRATEGIES, Canvas, SamplingSettings, Schedule, StepRecord, denoise, denoise_batch,
                       generate, plan_schedule)

__all__ = ["Canvas", "LLaDAConfig", "LLaDAModelLM", "LoadedModel", "MASK_PLACEHOLDER", "ModelLoadError",
           "REMASKING_STRATEGIES", "SamplingSettings", "Schedule", "StepRecord", "denoise", "denoise_batch", "generate",
           "infill_ids", "load_model", "parse_constraints", "plan_schedule", "prompt_ids", "save_checkpoint"]
