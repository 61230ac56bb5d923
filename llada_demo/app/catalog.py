"""The models the UI may load: an allow-list, never arbitrary remote code. Loaded models are cached."""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from ..card import read_json
from ..loading import BUNDLED_MODEL_DIR, DEMO_DEFAULTS, LoadedModel, load_model
from ..sampling import SamplingSettings

BUNDLED = "Bundled: small LLaDA trained on the KJV Bible"


@dataclass(frozen=True)
class ModelChoice:
    label: str
    source: str | None  # hub id or directory; None: the bundled model
    chat: bool  # instruct model: multi-turn chat through its chat template
    gpu_gb: float = 0.0  # memory it needs on a GPU (0: runs anywhere)
    defaults: SamplingSettings = SamplingSettings()  # the settings the page starts with for this model
    examples: tuple[str, ...] = ()  # example prompts offered with this model (the bundled ones: EXAMPLES)
    name: str = ""  # a short name for summaries ("bundled", "recitation"); the label if empty

    @property
    def short(self) -> str:
        return self.name or self.label

    @property
    def directory(self) -> Path:
        """Where a model we ship keeps its files (its card, its logs); for a hub model, its id as a path
        (holding none of them)."""
        return Path(self.source) if self.source else BUNDLED_MODEL_DIR


EIGHT_B_DEFAULTS = SamplingSettings(gen_length=128, steps=128, block_length=32, temperature=0.0, cfg_scale=0.0,
                                    remasking="low_confidence")
CATALOG = (
    ModelChoice("LLaDA-8B-Instruct", "GSAI-ML/LLaDA-8B-Instruct", chat=True, gpu_gb=17, defaults=EIGHT_B_DEFAULTS),
    ModelChoice("LLaDA-8B-Base", "GSAI-ML/LLaDA-8B-Base", chat=False, gpu_gb=17, defaults=EIGHT_B_DEFAULTS),
    ModelChoice("LLaDA-1.5", "GSAI-ML/LLaDA-1.5", chat=True, gpu_gb=17, defaults=EIGHT_B_DEFAULTS),
)


# Models we train and ship beside the bundled one, offered when their directory holds a checkpoint.
SHIPPED = (
    ("llada-kjv-ar", "Twin: the bundled model's autoregressive twin", "twin"),
    ("llada-recite", "Recitation: fine-tuned on famous passages", "recitation"),
    ("llada-recite-ar", "Recitation twin: its autoregressive twin", "recitation twin"),
)
# A recitation fine-tune learnt its passages in rows of `recite_canvas` tokens (its generation_config.json):
# its answer is that row less room for a verse as the prompt, in one block, so that prompt and answer fit
# the rows it was trained on (on a longer canvas it ends verses early: tests/test_app.py)
RECITE_PROMPT_ROOM = 32


def _generation_config(directory) -> dict:
    return read_json(directory / "generation_config.json")


def _trained_defaults(directory) -> SamplingSettings:
    """The settings that read best for a model we trained (train.py records them), on the canvas of its
    training rows when it is a recitation fine-tune."""
    config = _generation_config(directory)
    defaults = DEMO_DEFAULTS | config.get("demo_defaults", {})
    if config.get("recite_canvas"):
        n = config["recite_canvas"] - RECITE_PROMPT_ROOM
        defaults |= dict(gen_length=n, steps=n, block_length=n)
    return SamplingSettings(**defaults)


def bundled_choice() -> ModelChoice:
    return ModelChoice(BUNDLED, None, chat=False, defaults=_trained_defaults(BUNDLED_MODEL_DIR), name="bundled")


def shipped_choices(assets=None) -> list[ModelChoice]:
    """The shipped models of SHIPPED whose checkpoints are in `assets` (default: the package's)."""
    assets = assets or BUNDLED_MODEL_DIR.parent
    return [ModelChoice(label, str(assets / name), chat=False, defaults=_trained_defaults(assets / name),
                        examples=tuple(_generation_config(assets / name).get("demo_examples", ())), name=short)
            for name, label, short in SHIPPED if (assets / name / "config.json").is_file()]


def custom_choice(source: str) -> ModelChoice:
    """A model named on the command line (--model): chat if it looks like an instruct model."""
    for choice in CATALOG:
        if choice.source == source:
            return choice
    chat = any(word in source.lower() for word in ("instruct", "chat", "1.5"))
    return ModelChoice(source, source, chat=chat, defaults=EIGHT_B_DEFAULTS)


def gpu_memory_gb() -> float:
    """Memory of the first GPU; on a ZeroGPU Space (no GPU until a request runs) the size it lends."""
    if os.environ.get("SPACE_ID") and importlib.util.find_spec("spaces") is not None and not torch.cuda.is_available():
        return 40.0  # ZeroGPU lends a GPU far larger than the 8B models need (17 GB in bfloat16)
    try:
        return torch.cuda.get_device_properties(0).total_memory / 2**30 if torch.cuda.is_available() else 0.0
    except RuntimeError:
        return 0.0


def available_choices(extra: ModelChoice | None = None) -> list[ModelChoice]:
    """The bundled model and the others we ship, what the hardware can hold, and the model given on
    the command line."""
    choices = [bundled_choice(), *shipped_choices()]
    if extra is not None and extra.source is not None:
        choices.insert(0, extra)
    memory = gpu_memory_gb()
    choices += [c for c in CATALOG if c.gpu_gb <= memory and all(c.label != x.label for x in choices)]
    return choices


class ModelCache:
    """Loads each choice once (by label and source: two choices may share a label); one load at a time."""

    def __init__(self):
        self._models: dict[tuple, LoadedModel] = {}
        self._choices: dict[tuple, ModelChoice] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(choice: ModelChoice) -> tuple:
        return choice.label, choice.source

    def get(self, choice: ModelChoice) -> LoadedModel:
        key = self._key(choice)
        loaded = self._models.get(key)
        if loaded is not None:  # runs on loaded models never wait for another model's load
            return loaded
        with self._lock:
            if key not in self._models:
                if choice.gpu_gb > 0:  # one large model at a time: a GPU holds one 8B model, not three
                    for other in [k for k, c in self._choices.items() if c.gpu_gb > 0]:
                        self._models.pop(other, None)
                        self._choices.pop(other)
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
                self._models[key] = load_model(choice.source)
                self._choices[key] = choice
            return self._models[key]

    def loaded(self, choice: ModelChoice) -> bool:
        return self._key(choice) in self._models
