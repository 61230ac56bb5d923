"""A visitor's tour of the running app in Chromium, one screenshot per stop.

    python scripts/tour.py [--url http://127.0.0.1:7860/] [--out tour] [--docs docs]

Without --url it starts `app.py` on a free port (the bundled model, with the models shipped beside it)
and stops it at the end. Every tab with its defaults; each model in the menu on its own first example;
the documented example of each tab; a stopped run; an export, its standalone HTML opened from file://
and its JSON opened back into the replay. The screenshots go into the folder --out names, numbered in
the order taken; the list is printed at the end. With --docs DIR, the README's images are written there
too: the top of the page at six of the stops (screenshot, steer, compare, reversal, forward, likelihood.png).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # (scripts/ is not a package; the checkout's llada_demo is the one toured)

from llada_demo.testing import free_port, launch_chromium  # noqa: E402

DONE = "done"
DOCS_HEIGHT = 1150  # px of the page's top in a README image


class Tour:
    def __init__(self, page, out: Path, docs: Path | None = None):
        self.page, self.out, self.docs, self.shots = page, out, docs, []

    def shot(self, name: str, full: bool = True, page=None, docs: str | None = None):
        page = page or self.page
        path = self.out / f"{len(self.shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=full)
        self.shots.append(path)
        print(f"  {path.name}", flush=True)
        if docs and self.docs:
            page.screenshot(path=str(self.docs / docs), full_page=True,
                            clip=dict(x=0, y=0, width=page.viewport_size["width"], height=DOCS_HEIGHT))
            print(f"  {self.docs / docs}", flush=True)

    # ---- moving around -------------------------------------------------------------------------------
    def tab(self, name: str):
        self.page.get_by_role("tab", name=name).click()
        self.page.wait_for_timeout(300)

    def status(self, prefix: str = "ld-") -> str:
        return self.page.locator(f"#{prefix}status").inner_text()

    def wait_status(self, word: str, prefix: str = "ld-", timeout: float = 180_000):
        self.page.wait_for_function(
            f"(document.querySelector('#{prefix}status') || {{innerText: ''}}).innerText.startsWith('{word}')",
            timeout=timeout)

    def click_and_wait(self, button: str, prefixes=("ld-",), word: str = DONE):
        """Click a run's button, then wait until each view has started a new run and ended it."""
        for prefix in prefixes:  # a mark on each status: a new run's first message replaces it
            self.page.evaluate(f"document.querySelector('#{prefix}status').textContent = 'tour: waiting'")
        self.page.get_by_role("button", name=button, exact=True).click()
        for prefix in prefixes:
            self.page.wait_for_function(f"!document.querySelector('#{prefix}status').innerText.startsWith('tour')",
                                        timeout=180_000)
            self.wait_status(word, prefix)
        self.page.wait_for_timeout(1500)  # the after-run charts come a task later

    def choose(self, label: str, option: str):
        self.page.get_by_label(label, exact=True).click()
        self.page.get_by_role("option", name=option, exact=True).click()
        self.page.wait_for_timeout(500)

    def models(self) -> list[str]:
        self.page.get_by_label("Model", exact=True).click()
        names = self.page.get_by_role("option").all_inner_texts()
        self.page.keyboard.press("Escape")
        return [n.strip().splitlines()[-1].strip() for n in names]  # (the chosen one is marked "✓")

    def generate(self, prompt: str, wait: bool = True):
        self.page.get_by_placeholder("Type a prompt, then Generate").fill(prompt)
        if wait:
            self.click_and_wait("Generate")
        else:
            self.page.get_by_role("button", name="Generate", exact=True).click()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running app (default: start app.py on a free port)")
    ap.add_argument("--out", default="tour", help="folder for the screenshots (made if missing)")
    ap.add_argument("--docs", default=None, help="also write the README's images into this folder")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    server = None
    url = args.url
    if url is None:
        port = free_port()
        server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            deadline = time.monotonic() + 180
            while True:
                try:
                    page.goto(url)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
            page.get_by_placeholder("Type a prompt, then Generate").wait_for(timeout=60_000)
            page.locator("#ld-replay").wait_for(state="attached")
            page.wait_for_timeout(1500)
            tour = Tour(page, out, Path(args.docs) if args.docs else None)
            print(f"tour of {url}, screenshots in {out}/:")
            visit(tour, browser)
            browser.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
    print(f"{len(tour.shots)} screenshots")


def visit(tour: Tour, browser):
    page = tour.page
    # ---- Generate: the page as it opens, then a run of each model on its own first example ------------
    tour.shot("generate-as-it-opens")
    models = tour.models()
    tour.generate("In the beginning")
    tour.shot("generate-bundled-in-the-beginning", docs="screenshot.png")
    # inspect a cell at step 40 of the replay, set two cells, continue from there: a branch
    page.evaluate("() => { const r = document.getElementById('ld-replay'); r.value = 40; r.dispatchEvent(new Event('input')); }")
    cells = page.locator("#ld-grid .ld-cells .ld-cell.ld-mask[data-pos]")
    first, second = (int(cells.nth(i).get_attribute("data-pos")) for i in (0, 2))
    for position, text in ((first, " God"), (second, " earth")):
        page.locator(f"#ld-grid .ld-cells .ld-cell[data-pos='{position}']").click()
        page.locator(".ld-inspect .ld-top").nth(4).wait_for(timeout=30_000)
        if position == first:
            tour.shot("generate-inspect-a-cell")
        page.locator(".ld-inspect-input").fill(text)
        page.locator(".ld-inspect").get_by_role("button", name="set", exact=True).click()
    tour.click_and_wait("Continue from here")
    page.locator(f"#ld-grid .ld-cells .ld-cell[data-pos='{first}']").click()  # the panel on the branch's edit
    page.locator(".ld-inspect .ld-top").nth(4).wait_for(timeout=30_000)
    tour.shot("generate-branch-from-step-40", docs="steer.png")
    page.locator("#ld-branches").get_by_role("button", name="original").click()
    tour.shot("generate-branch-original-again", full=False)
    for i, model in enumerate(models[1:], 2):
        tour.choose("Model", model)
        tour.shot(f"generate-model-{i}-settings", full=False)
        first_example = examples_of(page, model)
        tour.generate(first_example or "And God said")
        tour.shot(f"generate-model-{i}-run")
    tour.choose("Model", models[0])
    # a stopped run
    for label, value in (("Answer length (tokens)", 256), ("Steps", 256)):
        box = page.locator(f"input[type=number][aria-label='number input for {label}']")
        box.fill(str(value))
        box.press("Tab")
    tour.generate("And it came to pass", wait=False)
    page.wait_for_function("/step (\\d+)\\//.test(document.querySelector('#ld-status').innerText)", timeout=60_000)
    page.wait_for_timeout(400)
    page.get_by_role("button", name="Stop", exact=True).first.click()
    tour.wait_status("stopped")
    page.wait_for_timeout(1500)
    tour.shot("generate-stopped")
    # export: the standalone HTML opened from file://, the JSON opened back into a fresh page
    page.get_by_role("button", name=re.compile("Export run")).click()
    link = page.locator('a[href$=".html"]')
    link.wait_for(state="attached", timeout=30_000)
    tour.shot("generate-exported", full=False)
    html_file = Path(unquote(link.get_attribute("href").split("file=", 1)[1]))
    offline = browser.new_context(offline=True, viewport={"width": 1280, "height": 900}).new_page()
    offline.goto(html_file.as_uri())
    offline.wait_for_function("document.querySelector('#ld-status') && "
                              "document.querySelector('#ld-status').innerText.startsWith('stopped')", timeout=30_000)
    offline.wait_for_timeout(1500)
    tour.shot("standalone-html-from-file", page=offline)
    offline.context.close()
    page.reload()
    page.locator("#ld-open").wait_for(state="attached")
    page.set_input_files("#ld-open", str(html_file.with_suffix(".json")))
    tour.wait_status("stopped")
    page.wait_for_timeout(1500)
    tour.shot("generate-run-file-opened")
    # ---- Compare: its default preset, the twin, the threshold preset's advice on the bundled model -----
    tour.tab("Compare")
    tour.shot("compare-as-it-opens", full=False)
    tour.click_and_wait("Generate both", ("ld-a-", "ld-b-"))
    tour.shot("compare-default-preset", docs="compare.png")
    for preset in ("fixed steps vs confidence threshold 0.9",
                   "the diffusion model vs its autoregressive twin (same settings)"):
        tour.choose("Compare", preset)
        tour.click_and_wait("Generate both", ("ld-a-", "ld-b-"))
        tour.shot("compare-" + re.sub(r"[^a-z0-9]+", "-", preset.split("(")[0].lower()).strip("-"))
    # ---- Reversal: its default model, then the bundled model ---------------------------------------------
    tour.tab("Reversal")
    tour.shot("reversal-as-it-opens", full=False)
    directions = ("ld-f-", "ld-r-", "ld-tf-", "ld-tr-")
    tour.click_and_wait("Run both directions", directions)
    tour.shot("reversal-default-model", docs="reversal.png")
    page.get_by_role("button", name="Run all pairs").click()
    page.wait_for_function("/All \\d+ pairs/.test(document.querySelector('#ld-tally').innerText)", timeout=600_000)
    tour.shot("reversal-scoreboard-all-pairs")
    missed = page.locator("#ld-board [role=gridcell][data-col='3']", has_text="✗")  # a pair it could not fill
    (missed.first if missed.count() else page.locator("#ld-board [data-testid=cell-2-3]")).click()
    page.locator("#ld-reversal-summary", has_text="Scoreboard row").wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    tour.shot("reversal-scoreboard-row-replayed")
    tour.choose("Model (a diffusion model with a twin)", models[0])
    tour.click_and_wait("Run both directions", directions)
    tour.shot("reversal-bundled-model")
    # ---- Forward process and Likelihood with their defaults and examples ---------------------------------
    tour.tab("Forward process")
    page.wait_for_function("/tokens masked/.test((document.querySelector('#ld-forward-status') || "
                           "{innerText: ''}).innerText)", timeout=60_000)
    page.wait_for_timeout(1000)
    tour.shot("forward-process-defaults", docs="forward.png")
    tour.choose("Example texts", "The LORD is my shepherd; I shall not want.")
    page.wait_for_timeout(2000)
    tour.shot("forward-process-example")
    tour.tab("Likelihood")
    page.wait_for_function("/^Each at its best/.test((document.querySelector('#ld-curves-verdict') || "
                           "{innerText: ''}).innerText)", timeout=60_000)
    tour.shot("likelihood-as-it-opens", full=False)
    page.locator("#ld-curves").scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    tour.shot("likelihood-training-curves", full=False)
    page.evaluate("window.scrollTo(0, 0)")
    page.get_by_role("button", name="Score", exact=True).click()
    page.wait_for_function("/^done/.test((document.querySelector('#ld-likelihood-status') || "
                           "{innerText: ''}).innerText)", timeout=120_000)
    page.wait_for_timeout(1000)
    tour.shot("likelihood-defaults", docs="likelihood.png")


def examples_of(page, model: str) -> str | None:
    """The first example prompt the app offers with `model`, if any (its gr.Examples table)."""
    block = page.locator(".block").filter(has=page.get_by_text(f"{model}: examples", exact=False)).last
    cells = block.locator("td, button.gallery-item")
    return cells.first.inner_text().strip() if block.count() and cells.count() else None


if __name__ == "__main__":
    main()
