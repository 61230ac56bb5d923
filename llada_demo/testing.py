"""What the tests and the benchmarks share: tiny models, a free port, the app served in-process, and
Debian's Chromium launched through Playwright. Nothing in the package imports this module."""

from __future__ import annotations

import os
import socket

from .model import LLaDAConfig, LLaDAModelLM

CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own browser download does not work offline
# Without the background-networking flags Chromium keeps trying hosts this closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
TINY_IDS = dict(mask_id=250, eos_id=1, eot_id=2)  # a tiny model's own ids (the official ones need 126k rows)


def tiny_config(**overrides) -> LLaDAConfig:
    base = dict(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, mlp_hidden_size=64, vocab_size=251,
                embedding_size=256, max_sequence_length=128, weight_tying=False, rope_theta=10000.0,
                mask_token_id=TINY_IDS["mask_id"], eos_token_id=TINY_IDS["eos_id"], pad_token_id=TINY_IDS["eos_id"])
    base.update(overrides)
    return LLaDAConfig(**base)


def tiny_model(seed=0, std=0.5, **overrides) -> LLaDAModelLM:
    # std 0.5 gives peaked, varied predictions, so sampler orderings are not decided by ties
    return LLaDAModelLM(tiny_config(**overrides)).init_weights(seed, std=std).eval().requires_grad_(False)


def import_checkout(checkout: str, name: str):
    """The llada_demo package of another checkout (say, before a change), imported beside this one under
    `name`, so that a benchmark can run both in one process, in turns."""
    import importlib.util
    import sys
    from pathlib import Path

    init = Path(checkout) / "llada_demo" / "__init__.py"
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # (its modules import each other through the package's name)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(app):
    """Serve a DemoApp as app.py does, on a free local port, in this process: (address, Blocks)."""
    from .app import build_demo, launch

    demo = build_demo(app)
    port = free_port()
    launch(demo, app, block=False, server_name="127.0.0.1", server_port=port, quiet=True)
    return f"http://127.0.0.1:{port}/", demo


def launch_chromium(playwright, **kwargs):
    """Debian's Chromium, headless, through a running `sync_playwright()`."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, **kwargs)


def process_cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of a process (and, with `children`, of all its descendants alive now), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")

    def own(p):
        try:
            text = open(f"/proc/{p}/stat").read()
        except OSError:  # gone
            return 0
        fields = text[text.rindex(")") + 2:].split()
        return int(fields[11]) + int(fields[12])

    pids = [pid] + (descendants(pid) if children else [])
    return sum(own(p) for p in pids) / tick


def descendants(pid: int) -> list[int]:
    """The pids of a process's descendants alive now (from /proc/*/stat parent links)."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            parent[int(entry)] = int(text[text.rindex(")") + 2:].split()[1])
    out, frontier = [], [pid]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier]
        out += kids
        frontier = kids
    return out
