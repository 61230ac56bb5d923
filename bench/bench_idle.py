"""CPU an idle server uses: app.py started, no tab open, then again after a few runs through the API.

    python bench/bench_idle.py [--seconds 30] [--apps after=.,before=/path/to/an/older/checkout]

Each app is a checkout directory whose app.py is started on a free port; all of them run at once, so
they see the same machine load. Columns: % of one core (utime + stime from /proc) over the window,
idle from the start and idle after three /denoise runs.
"""

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from llada_demo.testing import free_port, process_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent


def start(checkout: Path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(checkout / "app.py"), "--port", str(port)], cwd=checkout,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(600):
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200:
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{checkout}/app.py did not serve {url}")


def window(procs, seconds):
    before = [process_cpu_seconds(p.pid) for p in procs]
    t = time.perf_counter()
    time.sleep(seconds)
    wall = time.perf_counter() - t
    return [100 * (process_cpu_seconds(p.pid) - b) / wall for p, b in zip(procs, before)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--apps", default=f"after={ROOT}")
    args = ap.parse_args()
    apps = [(name, Path(path).resolve()) for name, path in (a.split("=", 1) for a in args.apps.split(","))]
    servers = [start(path) for _, path in apps]
    procs = [p for p, _ in servers]
    try:
        time.sleep(5)  # start-up settles
        idle = window(procs, args.seconds)
        from gradio_client import Client
        for _, url in servers:
            client = Client(url, verbose=False)
            for _ in range(3):
                client.predict(prompt="In the beginning", gen_length=16, steps=8, block_length=8, api_name="/denoise")
        time.sleep(2)
        after = window(procs, args.seconds)
    finally:
        for p in procs:
            p.kill()
    print(f"idle server CPU, % of one core over {args.seconds:g} s ({os.cpu_count()} cores; servers side by side)")
    print(f"{'app':<10} {'idle':>8} {'after runs':>11}")
    for (name, _), i, a in zip(apps, idle, after):
        print(f"{name:<10} {i:>7.2f}% {a:>10.2f}%")


if __name__ == "__main__":
    main()
