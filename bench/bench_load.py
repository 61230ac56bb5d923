"""Seconds for load_model() of the bundled model, each in a fresh Python process (imports included).

    python bench/bench_load.py [--repeats 3]

Prints a table: the import of llada_demo (torch) and load_model() itself (tokenizer and its
transformers import included), per run. The goal for load_model() is under 2 s.
"""

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = ("import time; t0 = time.perf_counter(); from llada_demo import load_model; t1 = time.perf_counter(); "
         "load_model(); t2 = time.perf_counter(); print(t1 - t0, t2 - t1)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"{'run':>3} {'import llada_demo s':>19} {'load_model() s':>15}")
    for i in range(args.repeats):
        out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
        imp, load = map(float, out.stdout.split()[-2:])
        print(f"{i + 1:>3} {imp:>19.2f} {load:>15.2f}")


if __name__ == "__main__":
    main()
