"""Load LLaDA checkpoints in the official layout (local directory or Hugging Face Hub id) into our model.

Official layout: `config.json` plus either `model.safetensors` or shards listed in
`model.safetensors.index.json`; tokenizer files optional. Weights are allocated once: the model is
built on the meta device and the checkpoint tensors are assigned in place of its parameters.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .card import read_json
from .model import LLaDAConfig, LLaDAModelLM

BUNDLED_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "llada-kjv"
HUB_FILE_PATTERNS = ["config.json", "*.safetensors", "model.safetensors.index.json", "tokenizer*",
                     "special_tokens_map.json", "generation_config.json", "chat_template.jinja"]
# Special ids of the official checkpoints; a config.json or tokenizer may override them.
OFFICIAL_SPECIAL_IDS = dict(mask_id=126336, eos_id=126081, eot_id=126348, bos_id=126080, pad_id=126081)
# The sampling settings a small model trained by llada_demo.train starts with in the app (the trainer
# writes them into generation_config.json as demo_defaults). For the bundled model, random remasking at
# temperature 0.7 read best: low-confidence remasking falls into loops ("the son of the son of"),
# margin remasking at 0.9 breaks more words.
DEMO_DEFAULTS = dict(gen_length=128, steps=128, block_length=32, temperature=0.7, remasking="random")


class ModelLoadError(ValueError):
    """A checkpoint could not be loaded; the message says why and what to do."""


@dataclass
class LoadedModel:
    model: LLaDAModelLM
    tokenizer: object | None
    name: str
    mask_id: int
    eos_id: int
    eot_id: int | None
    bos_id: int | None
    pad_id: int | None
    path: Path | None = None

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype


def default_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def default_dtype(device: torch.device) -> torch.dtype:
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def _parse_dtype(dtype) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    names = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
             "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if str(dtype) not in names:
        raise ModelLoadError(f"unknown dtype {dtype!r}; use one of {', '.join(names)}")
    return names[str(dtype)]


def _is_hub_id(name: str) -> bool:
    """`owner/name`, as the Hub spells repository ids (anything else is taken for a local path)."""
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*", name) is not None


def _download(repo_id: str) -> Path:
    """Fetch only config, tokenizer and safetensors files of a hub repository (with progress bars)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:  # pragma: no cover - huggingface_hub comes with transformers
        raise ModelLoadError("loading from the Hub needs the huggingface_hub package") from e
    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_FILE_PATTERNS))
    except Exception as e:  # network errors come in many classes (OSError, HTTP, offline mode)
        raise ModelLoadError(
            f"could not download {repo_id!r} from the Hugging Face Hub ({type(e).__name__}). Loading a hub id "
            "needs network access; without it, pass a local directory in the official layout "
            "(config.json + model.safetensors or shards)."
        ) from e


def read_config(path: Path) -> LLaDAConfig:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelLoadError(f"{path} has no config.json; a LLaDA checkpoint directory needs one")
    try:
        raw = json.loads(config_file.read_text())
    except json.JSONDecodeError as e:
        raise ModelLoadError(f"{config_file} is not valid JSON: {e}") from e
    model_type = raw.get("model_type")
    archs = raw.get("architectures") or []
    if model_type != "llada" and "LLaDAModelLM" not in archs:
        what = model_type or (archs[0] if archs else "unknown")
        raise ModelLoadError(f"{path} holds a {what!r} model, not LLaDA (config.json model_type must be 'llada')")
    if raw.get("block_type", "llama") != "llama":
        raise ModelLoadError(f"{path}: block_type {raw['block_type']!r} is not supported, only 'llama'")
    return LLaDAConfig.from_dict(raw)


def _weight_files(path: Path) -> list[Path]:
    index = path / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        files = sorted({path / f for f in weight_map.values()})
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ModelLoadError(f"{path}: shards listed in the index are missing: {', '.join(missing)}")
        return files
    single = path / "model.safetensors"
    if single.is_file():
        return [single]
    raise ModelLoadError(f"{path} has no model.safetensors nor model.safetensors.index.json")


def _load_weights(model: LLaDAModelLM, files: list[Path], device: torch.device, dtype: torch.dtype, where: Path):
    expected = dict(model.named_parameters())
    state, unexpected = {}, []
    for f in files:
        with safe_open(str(f), framework="pt", device=str(device)) as shard:
            for name in shard.keys():
                if name not in expected:
                    unexpected.append(name)
                    continue
                tensor = shard.get_tensor(name)
                if tuple(tensor.shape) != tuple(expected[name].shape):
                    raise ModelLoadError(f"{where}: weight {name} has shape {tuple(tensor.shape)}, "
                                         f"config.json implies {tuple(expected[name].shape)}")
                state[name] = tensor.to(dtype)
    missing = sorted(set(expected) - set(state))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing weights: {', '.join(missing[:8])}" + (" ..." if len(missing) > 8 else ""))
        if unexpected:
            parts.append(f"unexpected weights: {', '.join(sorted(unexpected)[:8])}"
                         + (" ..." if len(unexpected) > 8 else ""))
        raise ModelLoadError(f"{where} does not match its config.json ({'; '.join(parts)})")
    model.load_state_dict(state, strict=True, assign=True)


def _load_tokenizer(path: Path):
    if not any(path.glob("tokenizer*")):
        return None
    config = read_json(path / "tokenizer_config.json")
    plain = config.get("tokenizer_class") in ("TokenizersBackend", "PreTrainedTokenizerFast")
    if plain and (path / "tokenizer.json").is_file():
        # a plain tokenizers file (ours, LLaDA's): skip AutoTokenizer's imports, a third of load_model()'s time
        from transformers import PreTrainedTokenizerFast as tokenizer_class
    else:
        from transformers import AutoTokenizer as tokenizer_class
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # it warns that config.json's model type is not one it knows
    try:
        return tokenizer_class.from_pretrained(str(path))
    except Exception as e:
        raise ModelLoadError(f"{path}: the tokenizer files could not be loaded ({e})") from e
    finally:
        hf_logging.set_verbosity(verbosity)


def load_model(name_or_path: str | os.PathLike | None = None, device=None, dtype=None) -> LoadedModel:
    """Load a LLaDA checkpoint: None (the bundled model), a local directory, or a hub id."""
    if name_or_path is None:
        if not (BUNDLED_MODEL_DIR / "config.json").is_file():
            raise ModelLoadError(
                f"the bundled model is not in {BUNDLED_MODEL_DIR} yet; train it with `python -m llada_demo.train` "
                "or pass a checkpoint directory or hub id")
        path, name = BUNDLED_MODEL_DIR, "bundled:" + BUNDLED_MODEL_DIR.name
    else:
        name = str(name_or_path)
        local = Path(name).expanduser()
        if local.is_dir():
            path = local
        elif local.exists():
            raise ModelLoadError(f"{name} is a file; pass the checkpoint directory that holds config.json")
        elif not _is_hub_id(name):
            raise ModelLoadError(f"no directory {name}; pass a local checkpoint directory or a hub id like "
                                 "GSAI-ML/LLaDA-8B-Instruct")
        else:
            path = _download(name)
    device = torch.device(device) if device is not None else default_device()
    dtype = _parse_dtype(dtype) or default_dtype(device)

    config = read_config(path)
    with torch.device("meta"):
        model = LLaDAModelLM(config)
    _load_weights(model, _weight_files(path), device, dtype, path)
    model.eval().requires_grad_(False)

    tokenizer = _load_tokenizer(path)
    ids = dict(OFFICIAL_SPECIAL_IDS, mask_id=config.mask_token_id, eos_id=config.eos_token_id,
               pad_id=config.pad_token_id)
    if tokenizer is not None:
        ids["eot_id"] = tokenizer.convert_tokens_to_ids("<|eot_id|>") if "<|eot_id|>" in tokenizer.get_vocab() else None
        ids["bos_id"] = tokenizer.bos_token_id
    elif config.padded_vocab_size <= OFFICIAL_SPECIAL_IDS["eot_id"]:
        ids.update(eot_id=None, bos_id=None)  # a small model without a tokenizer has no such tokens
    return LoadedModel(model=model, tokenizer=tokenizer, name=name, path=path, **ids)


def save_checkpoint(model: LLaDAModelLM, path: str | os.PathLike, tokenizer=None, dtype=None,
                    shard_size: int | None = None) -> Path:
    """Write a checkpoint in the official layout (single file, or shards + index if shard_size is set)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = model.config.to_dict()
    state = {k: (v.to(dtype) if dtype else v).detach().contiguous().cpu() for k, v in model.state_dict().items()}
    config["torch_dtype"] = str(next(iter(state.values())).dtype).replace("torch.", "")
    (path / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    if shard_size is None:
        save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    else:
        shards, current, size = [], {}, 0
        for name, t in state.items():
            if current and size + t.numel() * t.element_size() > shard_size:
                shards.append(current)
                current, size = {}, 0
            current[name] = t
            size += t.numel() * t.element_size()
        shards.append(current)
        weight_map = {}
        for i, shard in enumerate(shards):
            fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, str(path / fname), metadata={"format": "pt"})
            weight_map.update({name: fname for name in shard})
        total = sum(t.numel() * t.element_size() for t in state.values())
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (path / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    if tokenizer is not None:
        tokenizer.save_pretrained(str(path))
    return path
