"""llada-demo: watch a LLaDA-style masked diffusion language model write.

    python app.py                                   # the bundled small model, on any CPU
    python app.py --model GSAI-ML/LLaDA-8B-Instruct # or a local directory in the official layout
"""

import argparse
import os
import socket

import torch

from llada_demo import ModelLoadError
from llada_demo.app.catalog import ModelCache, available_choices, custom_choice
from llada_demo.app import DemoApp, build_demo, launch


def default_model() -> str | None:
    """On a Hugging Face Space with a GPU that holds it, LLaDA-8B-Instruct; elsewhere the bundled model."""
    if os.environ.get("SPACE_ID") and any(c.source == "GSAI-ML/LLaDA-8B-Instruct" for c in available_choices()):
        return "GSAI-ML/LLaDA-8B-Instruct"
    return None


def address_problem(host: str, port: int) -> str | None:
    """Why the server could not listen at host:port, or None if it can."""
    if not 1 <= port <= 65535:
        return f"--port must be from 1 to 65535, got {port}"
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as e:
        return f"cannot listen on {host}:{port} ({e.strerror or e}); choose another --port or --host"
    return None


def cpu_threads(asked: int | None) -> int:
    """Threads for the model on a CPU. By default one core is left to the browser that draws the page: on
    2 cores, a second model thread made a run hardly faster alone and slower with a page drawing it, its
    threads spinning against the browser's (docs/performance.md)."""
    if asked is not None:
        return asked
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    return max(1, (os.cpu_count() or 2) - 1)


def make_app(model: str | None = None) -> DemoApp:
    """The app on `model` (default: the bundled one), loaded now: a broken model fails here, with the
    loader's own message (ModelLoadError or whatever else it raised), not in a user's first run."""
    app = DemoApp(available_choices(custom_choice(model) if model else None), ModelCache())
    app.cache.get(app.default)
    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("LLADA_MODEL") or default_model(),
                        help="hub id or local checkpoint directory (default: the bundled model)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: OMP_NUM_THREADS if set, else all cores but one)")
    args = parser.parse_args()
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be 1 or more, got {args.threads}")
    torch.set_num_threads(cpu_threads(args.threads))
    problem = address_problem(args.host, args.port)  # before the model loads, not after
    if problem:
        parser.error(problem)
    try:
        app = make_app(args.model)
    except Exception as e:  # ModelLoadError, or what the loader did not foresee (say, truncated weights)
        why = " ".join(str(e).split())  # one line, as the other bad arguments
        parser.exit(2, f"error: {why}\n" if isinstance(e, ModelLoadError) else
                    f"error: could not load {args.model or 'the bundled model'}: {why}\n")
    demo = build_demo(app)
    launch(demo, app, server_name=args.host, server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
