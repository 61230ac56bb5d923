"""llada-demo: watch a LLaDA-style masked diffusion language model write.

    python app.py                                   # the bundled small model, on any CPU
    python app.py --model GSAI-ML/LLaDA-8B-Instruct # or a local directory in the official layout
"""

import argparse
import os
import socket

from llada_demo import ModelLoadError
from llada_demo.app.catalog import ModelCache, available_choices, custom_choice
from llada_demo.app import DemoApp, build_demo, launch_options


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


def make_app(model: str | None = None) -> DemoApp:
    app = DemoApp(available_choices(custom_choice(model) if model else None), ModelCache())
    app.model(None)  # load the default model now: a broken one fails here, not in a user's first run
    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("LLADA_MODEL") or default_model(),
                        help="hub id or local checkpoint directory (default: the bundled model)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    args = parser.parse_args()
    problem = address_problem(args.host, args.port)  # before the model loads, not after
    if problem:
        parser.error(problem)
    try:
        app = make_app(args.model)
    except ModelLoadError as e:
        parser.exit(2, f"error: {e}\n")
    demo = build_demo(app)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **launch_options())


if __name__ == "__main__":
    main()
