"""Time to first frame and per-step overhead of the app over bare denoise(), on the bundled model.

    python bench/bench_app.py [--lengths 64,128,256] [--repeats 3]

Columns: ms per step of bare denoise(); of the app's run handler (trajectory and wire messages, as
the page receives them); their difference per step; time from Generate to the first step's message in
the handler; and time to the first streamed frame through the real server (/denoise, gradio_client).
Bare and app runs alternate, so machine noise hits both alike; medians over the repeats.
"""

import argparse
import socket
import statistics
import time

import torch

from llada_demo import denoise
from llada_demo.app.catalog import ModelCache, available_choices
from llada_demo.prompts import prompt_ids
from llada_demo.app import DemoApp, build_demo

PROMPT = "In the beginning God created the heaven and the earth."


def settings_for(app, **changes) -> dict:
    """The Generate tab's settings as its panel holds them: greedy, LLaDA's plan, with `changes`."""
    from llada_demo.app.controls import BY_FIELD, page_value

    base = {f: page_value(app.default.defaults, f) for f in BY_FIELD}
    return base | dict(temperature=0.0, cfg_scale=0.0, remasking="low_confidence", seed=0, decoding="fixed",
                       stop_at_eos=False, cache="none") | changes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", default="64,128,256")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    app = DemoApp(available_choices(), ModelCache())
    label = app.default.label
    loaded = app.model(label)[1]
    ids = prompt_ids(loaded, PROMPT)
    demo = build_demo(app)  # (lays out the tabs, whose handlers the runs below call)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    from gradio_client import Client

    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    print(f"model: {label}; prompt {len(ids)} tokens; {args.threads} threads; median of {args.repeats}; "
          "steps = answer length, blocks of 32")
    print(f"{'answer':>6} {'bare ms/step':>12} {'app ms/step':>12} {'overhead/step':>14} "
          f"{'first step (app)':>17} {'first frame (server)':>21}")
    for n in map(int, args.lengths.split(",")):
        settings = dict(steps=n, gen_length=n, block_length=min(32, n))
        bare, full, first_step, first_server = [], [], [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            for _frame in denoise(loaded, [ids], **settings, temperature=0.0, seed=0):
                pass
            bare.append((time.perf_counter() - t) / n)
            t = time.perf_counter()
            outs = app.tabs.generate.run(PROMPT, settings_for(app, gen_length=n, steps=n, block_length=min(32, n)),
                                         model=label)
            next(outs)  # the start message
            next(outs)  # the first step's record
            first_step.append(time.perf_counter() - t)
            for _out in outs:
                pass
            full.append((time.perf_counter() - t) / n)
            t = time.perf_counter()
            job = client.submit(prompt=PROMPT, gen_length=n, steps=n, block_length=min(32, n), temperature=0.0,
                                cfg_scale=0.0, remasking="low_confidence", seed=0, api_name="/denoise")
            for _frame in job:
                first_server.append(time.perf_counter() - t)
                break
            job.cancel()
        b, f = statistics.median(bare) * 1e3, statistics.median(full) * 1e3
        print(f"{n:>6} {b:>12.2f} {f:>12.2f} {f - b:>11.2f} ms {statistics.median(first_step) * 1e3:>14.0f} ms "
              f"{statistics.median(first_server) * 1e3:>18.0f} ms")
    demo.close()


if __name__ == "__main__":
    main()
