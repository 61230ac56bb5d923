"""The Reversal tab's scoreboard (Run all pairs) end to end, without the page: time and tally.

    python bench/bench_scoreboard.py [--threads 2] [--model LABEL]

Builds the app's page as app.py does (every bundled model), calls the tab's `run_all` handler for the
tab's default model (the recitation model) or --model, and prints one table: how long the first pair,
ten pairs and all the pairs took, and the final tally of each test. Run it with nothing else on the
machine: its seconds are the board's wall time here.
"""

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llada_demo.app import DemoApp, build_demo  # noqa: E402
from llada_demo.app.catalog import ModelCache, available_choices  # noqa: E402
from llada_demo.app.tabs.reversal import BOARD_COLUMNS  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=None, help="a label of the tab's model list (default: the tab's default)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    app = DemoApp(available_choices(), ModelCache())
    app.demo = build_demo(app)
    page = app.tabs.reversal
    label = args.model or page.default_model()
    marks, t0, last = {}, time.perf_counter(), None
    for last in page.run_all(label, request=SimpleNamespace(session_hash="bench")):
        n = len(app.sessions.of(SimpleNamespace(session_hash="bench")).board)
        marks.setdefault(n, time.perf_counter() - t0)
    board = app.sessions.of(SimpleNamespace(session_hash="bench")).board
    print(f"model: {label}; {args.threads} torch threads; {len(board)} pairs")
    print("| pairs done | seconds |\n|---|---|")
    for n in (1, 10, len(board)):
        if n in marks:
            print(f"| {n} | {marks[n]:.1f} |")
    print("\n| test | right |\n|---|---|")
    columns = BOARD_COLUMNS[2:]
    for i, name in enumerate(columns, start=2):
        right = sum(p.row()[i] == "✓" for p in board)
        print(f"| {name} | {right}/{len(board)} |")
    print("\n" + last[page.tally].split("  \n")[0])


if __name__ == "__main__":
    main()
