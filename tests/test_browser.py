"""The app in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright)."""

import os
import re
import time

import pytest

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
                                reason="Debian's chromium is not installed (scripts/setup.sh dev installs it)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(app_server)
    page.get_by_placeholder("Type a prompt, then Generate").wait_for()
    yield page
    page.close()


def set_slider(page, label, value):
    box = page.locator(f"input[type=number][aria-label='number input for {label}']")
    box.fill(str(value))
    box.press("Tab")


def status(page):
    return page.locator("#ld-status").inner_text()


def start_run(page, prompt, length, steps, block_length, cfg_scale=None):
    set_slider(page, "Answer length (tokens)", length)
    set_slider(page, "Steps", steps)
    set_slider(page, "Block length", block_length)
    if cfg_scale is not None:
        set_slider(page, "CFG scale", cfg_scale)
    page.get_by_placeholder("Type a prompt, then Generate").fill(prompt)
    page.get_by_role("button", name="Generate").click()


def wait_done(page):
    page.wait_for_function("document.querySelector('#ld-status').innerText.includes('done')", timeout=60_000)


def test_generate_fills_the_grid_and_renders_the_heatmap(page):
    start_run(page, "In the beginning", 32, 16, 16)
    wait_done(page)
    assert "step 16/16 · block 2/2" in status(page)
    cells = page.locator("#ld-grid .ld-cells .ld-cell:not(.ld-prompt)")
    assert cells.count() == 32
    assert page.locator("#ld-grid .ld-cells .ld-mask").count() == 0  # every cell filled
    assert page.locator("#ld-grid .ld-block-start").count() == 1  # one boundary between the two blocks
    page.locator("#ld-heatmap .js-plotly-plot .hm image").wait_for(timeout=20_000)  # the heatmap's raster
    assert page.get_by_label("Answer", exact=True).input_value() != ""


def test_stop_cancels_a_long_run_and_replay_scrubs(page, monkeypatch):
    # The server runs in this process: give each forward pass 100 ms more, like a bigger model, so the
    # run is surely still going when Stop arrives (the bundled model alone can finish first).
    from llada_demo import LLaDAModelLM
    forward = LLaDAModelLM.forward
    monkeypatch.setattr(LLaDAModelLM, "forward", lambda *a, **k: time.sleep(0.1) or forward(*a, **k))
    n = int(page.locator("input[aria-label='number input for Answer length (tokens)']").get_attribute("max"))
    start_run(page, "And God said", n, n, n)
    page.wait_for_function("/step (\\d+)\\//.test(document.querySelector('#ld-status').innerText)", timeout=60_000)
    page.get_by_role("button", name="Stop").click()
    page.wait_for_function("document.querySelector('#ld-status').innerText.includes('stopped')", timeout=30_000)
    stopped_at = int(re.search(rf"step (\d+)/{n}", status(page)).group(1))
    assert 1 <= stopped_at < n
    page.wait_for_timeout(1000)  # nothing more arrives after a stop
    assert int(re.search(rf"step (\d+)/{n}", status(page)).group(1)) == stopped_at
    # scrub the replay back to step 1 (a stop may come that early): the grid is shown as it was then
    set_slider(page, "Replay: step", 1)
    page.wait_for_function("document.querySelector('#ld-grid').innerText.includes('replay · step 1/')",
                           timeout=20_000)
    assert page.locator("#ld-grid .ld-cells .ld-mask").count() == n - 1  # one token per step


def test_html_in_the_prompt_renders_as_text(page):
    start_run(page, '<img src=x onerror="window.pwned=1"><b>bold</b>', 8, 4, 8)
    wait_done(page)
    assert page.locator("#ld-grid img").count() == 0 and page.locator("#ld-grid b").count() == 0
    assert "<" in "".join(page.locator("#ld-grid .ld-cells .ld-prompt").all_inner_texts())
    assert page.evaluate("window.pwned === undefined")
