"""The app in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright)."""

import json
import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import torch

from llada_demo import generate
from llada_demo.prompts import prompt_ids
from llada_demo.testing import CHROMIUM, launch_chromium

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
                                reason="Debian's chromium is not installed (scripts/setup.sh dev installs it)")
HOSTILE = '<img src=x onerror="window.pwned=1"><b>bold</b>'


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(app_server)
    page.get_by_placeholder("Type a prompt, then Generate").wait_for()
    page.locator("#ld-replay").wait_for(state="attached")  # the renderer has mounted
    yield page
    page.close()


def set_slider(page, label, value):
    box = page.locator(f"input[type=number][aria-label='number input for {label}']")
    box.fill(str(value))
    box.press("Tab")


def status(page):
    return page.locator("#ld-status").inner_text()


def start_run(page, prompt, length, steps, block_length, fixed=None):
    set_slider(page, "Answer length (tokens)", length)
    set_slider(page, "Steps", steps)
    set_slider(page, "Block length", block_length)
    set_slider(page, "Temperature", 0)
    if fixed is not None:
        page.get_by_label("Fixed tokens (answer position: text)").fill(fixed)
    page.get_by_placeholder("Type a prompt, then Generate").fill(prompt)
    page.get_by_role("button", name="Generate").click()


def wait_status(page, word, timeout=60_000):
    page.wait_for_function(f"document.querySelector('#ld-status').innerText.startsWith('{word}')", timeout=timeout)


def expect(locator):
    from playwright.sync_api import expect  # (imported where used, as the browser fixture does)

    return expect(locator)


def final_answer(page, other_than=""):
    """The answer box once the run's last value has filled it (the status can say done a moment before:
    the steps come by the page's own stream, the answer by Gradio's event)."""
    box = page.get_by_label("Answer", exact=True)
    expect(box).not_to_have_value(other_than, timeout=20_000)
    return box.input_value()


def scrub(page, k):
    """Move the replay slider to step k, as a user's drag does."""
    page.evaluate("k => { const r = document.getElementById('ld-replay'); r.value = k;"
                  " r.dispatchEvent(new Event('input')); }", k)


def heatmap_rows(page):
    """Rows of the heatmap's cell raster that are painted (opaque at their first cell)."""
    page.locator("#ld-heatmap canvas.ld-heat-cells").wait_for(state="attached")  # drawn a task after the start
    return page.evaluate("""() => { const c = document.querySelector('#ld-heatmap canvas.ld-heat-cells');
        const ctx = c.getContext('2d'), cell = c.width / document.querySelectorAll('#ld-grid .ld-cell[data-pos]').length;
        let rows = 0;
        for (let y = 0; y < c.height; y += cell) if (ctx.getImageData(0, y, 1, 1).data[3] === 255) rows++;
        return rows; }""")


def answer_cells(page):
    """(masked, token id or None) of every answer cell, read from the page once the grid is drawn (a grid
    built anew, as when another branch is chosen, has blank cells until the next frame draws them)."""
    return page.wait_for_function("""() => {
        const read = [...document.querySelectorAll('#ld-grid .ld-cells .ld-cell[data-pos]')].map(c => {
            const id = / · id (\\d+) · /.exec(c.title);
            return c.classList.contains('ld-mask') ? [true, null] : id && [false, Number(id[1])]; });
        return read.every(Boolean) && read; }""", timeout=10_000).json_value()


def last_session(app):
    return max(app.sessions._by_hash.values(), key=lambda s: id(s.trajectory) if s.trajectory else 0)


def test_a_run_streams_ends_as_generate_and_replays_without_requests(page, served, loaded):
    _, app = served
    streams = []
    page.on("response", lambda r: streams.append(r.status) if "/llada-demo/runs/" in r.url else None)
    start_run(page, "In the beginning", 32, 16, 16)
    wait_status(page, "done")
    assert "step 16/16 · block 2/2" in status(page)
    assert streams == [200]  # the steps came through the page's own stream
    trajectory = last_session(app).trajectory
    settings = trajectory.settings  # what the page's controls gave: the app's defaults, our lengths
    assert (settings.gen_length, settings.steps, settings.block_length, settings.seed) == (32, 16, 16, 0)
    ids = prompt_ids(loaded, "In the beginning")
    expected = generate(loaded, torch.tensor([ids]), settings=settings)[0, len(ids):]
    cells = answer_cells(page)
    assert [tok for _, tok in cells] == expected.tolist() and not any(m for m, _ in cells)
    assert page.locator("#ld-grid .ld-block-start").count() == 1  # one boundary between the two blocks
    assert heatmap_rows(page) == 16  # one painted row per step
    box = page.locator("#ld-heatmap canvas.ld-heat-cells").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 16.5 / 32, box["y"] + box["height"] * 8.5 / 16)  # position 16, step 9
    assert re.match(r"position 16 · step 9 · confidence \d+%", page.locator("#ld-heatmap .ld-tip").inner_text())
    assert after_run_charts(page) == (16, 32)  # and the after-run charts: 16 steps, 32 positions
    assert final_answer(page) != ""
    # scrub: every step shows what the server's view of that step holds, and nothing goes to the server
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    for k in (0, 1, 5, 9, 16):
        scrub(page, k)
        view = trajectory.view(k)
        cells = answer_cells(page)
        assert [m for m, _ in cells] == view.masked.tolist(), k
        assert [t for m, t in cells if not m] == view.tokens[~view.masked].tolist(), k
        assert f"replay · step {k}/16" in page.locator("#ld-grid").inner_text()
        if k:
            assert page.locator("#ld-grid .ld-new").count() - 1 == 2  # 32 tokens in 16 steps; the legend's one
    page.locator("#ld-play").click()  # Play runs in the page too
    page.wait_for_function("document.getElementById('ld-replay').value === '16'", timeout=10_000)
    assert requests == []


def test_stop_shows_stopped_at_once_and_nothing_arrives_after(page, monkeypatch):
    # The server runs in this process: give each forward pass 100 ms more, like a bigger model, so the
    # run is surely still going when Stop arrives (the bundled model alone can finish first).
    from llada_demo import LLaDAModelLM
    forward = LLaDAModelLM.forward
    monkeypatch.setattr(LLaDAModelLM, "forward", lambda *a, **k: time.sleep(0.1) or forward(*a, **k))
    n = int(page.locator("input[aria-label='number input for Answer length (tokens)']").get_attribute("max"))
    start_run(page, "And God said", n, n, n)
    page.wait_for_function("/step (\\d+)\\//.test(document.querySelector('#ld-status').innerText)", timeout=60_000)
    clicked = time.perf_counter()
    page.get_by_role("button", name="Stop").click()
    wait_status(page, "stopped", timeout=30_000)
    assert time.perf_counter() - clicked < 2.0  # the bench measures it tighter; this is a generous bound
    stopped_at = int(re.search(rf"step (\d+)/{n}", status(page)).group(1))
    assert 1 <= stopped_at < n
    page.wait_for_timeout(1000)  # nothing more arrives after a stop
    assert int(re.search(rf"step (\d+)/{n}", status(page)).group(1)) == stopped_at
    assert final_answer(page).startswith("(stopped)")
    scrub(page, 1)
    assert sum(m for m, _ in answer_cells(page)) == n - 1  # one token per step


def test_without_its_stream_the_page_gets_the_steps_through_gradio(page, served):
    _, app = served
    tries = []
    page.route("**/llada-demo/runs/**", lambda route: tries.append(1) or route.abort())  # a proxy that drops it
    start_run(page, "And the earth", 24, 12, 12)
    page.wait_for_function("/step (\\d+)\\//.test(document.querySelector('#ld-status').innerText)", timeout=60_000)
    wait_status(page, "done")
    assert "step 12/12" in status(page)
    assert [t for _, t in answer_cells(page)] == last_session(app).trajectory.final_tokens().tolist()
    ended_after = len(tries)
    page.wait_for_timeout(4000)  # EventSource retries every ~3 s until it is closed: the run's end closes it
    assert ended_after >= 1 and len(tries) == ended_after


def test_markup_stays_text_everywhere_and_the_export_replays_offline(page, served, browser, tmp_path):
    _, app = served
    start_run(page, HOSTILE, 16, 8, 8, fixed="2: <b>x</b>")
    wait_status(page, "done")
    grid = page.locator("#ld-grid")
    assert grid.locator("img").count() == 0 and grid.locator("b").count() == 0
    texts = "".join(grid.locator(".ld-cells .ld-cell").all_inner_texts())
    assert "<img" in texts and "<b" in texts  # the prompt's and the fixed tokens' text, as text
    titles = page.evaluate("[...document.querySelectorAll('#ld-grid .ld-cell')].map(c => c.title).join(' ')")
    assert re.search(r'"\s?<', titles)  # hover titles hold the fixed tokens' raw text
    after_run_charts(page)  # (they come a task later)
    order = page.locator("#ld-order canvas.ld-heat-cells")
    order.scroll_into_view_if_needed()
    box, tip, tips = order.bounding_box(), page.locator("#ld-order .ld-tip"), []
    for i in range(2, 8):  # one row of 32 positions; the fixed tokens start at position 2
        page.mouse.move(box["x"] + box["width"] * (i + 0.5) / 32, box["y"] + box["height"] / 2)
        tips.append(tip.inner_text())
        assert tip.locator("*").count() == 0
    assert any(re.match(rf'position {i} · "\s?<.*" · given', t) for i, t in enumerate(tips, 2)), tips
    assert page.evaluate("window.pwned === undefined")
    # export, then open the standalone page from disk with the network off
    page.get_by_role("button", name=re.compile("Export run")).click()
    link = page.locator('a[href$=".html"]')
    link.wait_for(state="attached", timeout=20_000)
    html_file = Path(unquote(link.get_attribute("href").split("file=", 1)[1]))  # served where it was written
    assert html_file.is_file() and app.exports.root in html_file.parents
    json_file = tmp_path / "run.json"  # a copy: an export goes after an hour, or sooner when the store is full
    json_file.write_bytes(html_file.with_suffix(".json").read_bytes())
    context = browser.new_context(offline=True)
    offline = context.new_page()
    sent = []
    offline.on("request", lambda r: sent.append(r.url))
    offline.goto(html_file.as_uri())
    offline.wait_for_function("document.querySelector('#ld-status') && "
                              "document.querySelector('#ld-status').innerText.startsWith('done')", timeout=20_000)
    assert offline.locator("#ld-grid img").count() == 0 and offline.locator("#ld-grid b").count() == 0
    assert offline.evaluate("window.pwned === undefined")
    scrub(offline, 3)
    trajectory = last_session(app).trajectory
    masked = offline.evaluate("[...document.querySelectorAll('#ld-grid .ld-cell[data-pos]')]"
                              ".map(c => c.classList.contains('ld-mask'))")
    assert masked == trajectory.view(3).masked.tolist()
    assert heatmap_rows(offline) == 8
    assert [u for u in sent if not u.startswith("file:")] == []
    context.close()
    # the JSON export opens back into the page's replay, with no request to the server
    page.reload()
    page.locator("#ld-open").wait_for(state="attached")
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.set_input_files("#ld-open", str(json_file))
    wait_status(page, "done")
    scrub(page, 3)
    assert [m for m, _ in answer_cells(page)] == trajectory.view(3).masked.tolist()
    assert page.locator("#ld-grid img").count() == 0 and requests == []


def test_a_malformed_run_file_is_refused_and_the_run_on_screen_stays(page, served, tmp_path):
    from test_public import malformed

    _, app = served
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    start_run(page, "And God said", 16, 4, 8)
    wait_status(page, "done")
    trajectory = last_session(app).trajectory
    run = json.loads(app.tabs.generate.write_exports(trajectory, "done", "")[0].read_text(encoding="utf-8"))
    shown = answer_cells(page)
    files = {what: json.dumps(doc) for what, doc in malformed(run).items()}
    files["not JSON"] = "{not json"
    files["50 MB"] = " " * (50 * 2**20)
    for what, text in files.items():
        path = tmp_path / "run.json"
        path.write_text(text)
        page.set_input_files("#ld-open", str(path))
        page.wait_for_function("document.querySelector('#ld-status').innerText.startsWith('could not open run.json: ')",
                               timeout=20_000)
        message = status(page)
        assert answer_cells(page) == shown, what  # the run on screen is left as it was
        page.evaluate("document.querySelector('#ld-status').textContent = ''")
        print(what, "->", message)
    assert errors == []


def test_bad_input_shows_a_message_as_text_and_keeps_the_prompt(page):
    start_run(page, "In the beginning", 16, 8, 8, fixed="<b>one</b>: x")
    toast = page.get_by_test_id("toast-body").first
    toast.wait_for(timeout=20_000)
    assert "<b>one</b>" in toast.inner_text() and toast.locator("b").count() == 0
    assert page.get_by_placeholder("Type a prompt, then Generate").input_value() == "In the beginning"


def test_the_guesses_toggle_redraws_in_the_page(page):
    start_run(page, "In the beginning", 32, 16, 32)
    wait_status(page, "done")
    scrub(page, 4)
    assert page.locator("#ld-grid .ld-cells .ld-guess").count() > 0
    masked = page.locator("#ld-grid .ld-cell.ld-mask[data-pos]").first
    masked.hover()  # a masked cell's tooltip is made when it is hovered, for the step shown
    assert re.fullmatch(r"masked · model's guess \".*\" \(id \d+, confidence 0\.\d{3}\)", masked.get_attribute("title"))
    page.get_by_label("Show the model's guesses under the masks").uncheck()
    page.wait_for_function("document.querySelectorAll('#ld-grid .ld-cells .ld-guess').length === 0", timeout=5_000)
    assert np.sum([m for m, _ in answer_cells(page)]) == 32 - 8


def test_values_the_page_missed_are_fetched_again(page, served):
    _, app = served
    # drop the start message and two steps on their way in, as a page that mounted late or a dropped
    # value would miss them: the page asks the server for what it missed and ends with the whole run
    page.evaluate("""() => { const live = LladaView.registry.live, receive = live.receive.bind(live);
        let n = 0; live.receive = (p) => { n++; if (n === 1 || n === 3 || n === 4) return; receive(p); }; }""")
    start_run(page, "And the earth", 24, 12, 12)
    wait_status(page, "done")
    assert "step 12/12 · block 2/2 · 12 forward passes" in status(page)
    trajectory = last_session(app).trajectory
    assert [t for _, t in answer_cells(page)] == trajectory.final_tokens().tolist()
    assert "#" not in page.locator("#ld-grid .ld-cells").inner_text()  # every token's text arrived


def test_the_forward_process_tab_masks_more_as_the_slider_rises(page):
    page.get_by_role("tab", name="Forward process").click()
    summary = page.locator("#ld-forward-status")
    page.wait_for_function("/tokens masked/.test(document.querySelector('#ld-forward-status').innerText)",
                           timeout=30_000)
    first = int(re.search(r"(\d+) of (\d+) tokens masked", summary.inner_text()).group(1))
    box = page.locator("input[type=number][aria-label='number input for Mask ratio t']")
    box.fill("0.9")
    box.press("Tab")
    page.wait_for_function("!/t = 0.30/.test(document.querySelector('#ld-forward-status').innerText)", timeout=30_000)
    later = int(re.search(r"(\d+) of (\d+) tokens masked", summary.inner_text()).group(1))
    assert later > first and page.locator("#ld-forward-grid .ld-mask").count() == later
    page.locator("#ld-forward-chart .scatterlayer").first.wait_for(state="attached", timeout=20_000)
    # an example text, chosen from the list, is masked and reconstructed at once
    page.get_by_label("Example texts").click()
    page.get_by_role("option", name="The LORD is my shepherd; I shall not want.").click()
    page.wait_for_function("/of (\\d+) tokens masked/.test(document.querySelector('#ld-forward-status').innerText) && "
                           "!document.querySelector('#ld-forward-status').innerText.includes('of "
                           + re.search(r"of (\d+) tokens", summary.inner_text()).group(1) + " tokens')",
                           timeout=30_000)
    assert page.get_by_label("Text", exact=True).input_value() == "The LORD is my shepherd; I shall not want."
    # a typed text with markup stays text (t = 0: every token shown as written)
    box.fill("0")
    box.press("Tab")
    page.wait_for_function("/t = 0.00/.test(document.querySelector('#ld-forward-status').innerText)", timeout=30_000)
    page.get_by_label("Text", exact=True).fill('<b>bold</b> and <img src=x onerror="window.pwned=1">')
    page.get_by_label("Text", exact=True).press("Tab")  # leaving the box masks the new text
    page.wait_for_function("document.querySelector('#ld-forward-grid').innerText.includes('<')", timeout=30_000)
    assert page.locator("#ld-forward-grid b, #ld-forward-grid img").count() == 0
    assert page.evaluate("window.pwned === undefined")


def test_the_likelihood_tab_streams_and_ranks(page):
    page.get_by_role("tab", name="Likelihood").click()
    # opening the tab draws the training curves: the model, its recipe's rerun, its twin kept and trained on,
    # in both panels, named in the legend in that order
    page.wait_for_function("/^Each at its best/.test(document.querySelector('#ld-curves-verdict').innerText)",
                           timeout=30_000)
    assert page.locator("#ld-curves-chart .scatterlayer .trace").count() >= 8
    legend = page.locator("#ld-curves-chart .legendtext").all_text_contents()  # (SVG: no innerText)
    assert len(legend) == 4 and "recipe run again" in legend[1] and "trained on without stopping" in legend[3]
    page.get_by_label("Candidate answers (one per line)").fill(' the earth.\n <b>the sea</b>.')
    page.get_by_role("button", name="Score").click()
    page.wait_for_function("/^done/.test(document.querySelector('#ld-likelihood-status').innerText)",
                           timeout=60_000)
    items = page.locator("#ld-ranking li").all_inner_texts()
    assert len(items) == 2 and items[0].startswith('" the earth."')
    assert page.locator("#ld-likelihood b").count() == 0  # the candidate's markup stays text, in the chart too
    page.locator("#ld-likelihood-chart .barlayer").first.wait_for(state="attached", timeout=20_000)


def test_compare_streams_two_grids_and_scrubs_them_together(page):
    set_slider(page, "Answer length (tokens)", 16)  # the Generate tab's settings are A's
    set_slider(page, "Steps", 16)
    set_slider(page, "Block length", 16)
    page.get_by_role("tab", name="Compare").click()
    page.get_by_label("Prompt (both runs)").fill("And God said")
    page.get_by_role("button", name="Generate both").click()
    for side in "ab":
        page.wait_for_function(f"document.querySelector('#ld-{side}-status').innerText.startsWith('done')",
                               timeout=60_000)
    assert "forward passes" in page.locator("#ld-compare-a").inner_text()
    for side in "ab":  # each run has its own heatmap, every step's row painted (the last row is opaque)
        page.wait_for_function(f"(() => {{ const c = document.querySelector('#ld-{side}-heatmap canvas');"
                               " return c && c.getContext('2d').getImageData(0, c.height - 1, 1, 1).data[3] === 255;"
                               " })()", timeout=10_000)
    page.evaluate("() => { const r = document.getElementById('ld-a-replay'); r.value = 3;"
                  " r.dispatchEvent(new Event('input')); }")
    assert "replay · step 3/" in page.locator("#ld-b-grid").inner_text()  # B follows A's slider
    expect(page.get_by_label("Answer B")).not_to_have_value("", timeout=20_000)


@pytest.mark.skipif(shutil.which("bible") is None and not os.environ.get("CI"), reason="Debian's bible-kjv is absent")
def test_reversal_runs_both_directions_live(page):
    page.get_by_role("tab", name="Reversal").click()
    page.get_by_role("button", name="Run both directions").click()
    for side in ("f", "r", "tf", "tr"):  # the diffusion model both ways, and its twin
        page.wait_for_function(f"document.querySelector('#ld-{side}-status').innerText.startsWith('done')",
                               timeout=60_000)
    assert page.get_by_label("Written B", exact=True).input_value() != ""
    assert page.get_by_label("Filled A").input_value() != "" and page.get_by_label("Twin: written A").input_value() != ""
    assert "Backward (B, fill A)" in page.inner_text("body")  # the summary: exact or not, and the table


@pytest.mark.skipif(shutil.which("bible") is None and not os.environ.get("CI"), reason="Debian's bible-kjv is absent")
def test_the_scoreboard_fills_as_it_goes_stops_and_replays_a_row(page):
    from playwright.sync_api import expect
    page.get_by_role("tab", name="Reversal").click()
    page.get_by_role("button", name="Run all pairs").click()
    tally = page.locator("#ld-tally")
    expect(tally).to_contain_text("Running: 2 of 46 pairs", timeout=60_000)
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(tally).to_contain_text("Stopped after", timeout=30_000)
    counted = int(re.search(r"Stopped after (\d+) of 46", tally.inner_text()).group(1))
    grid = page.locator("#ld-board [role=grid]")  # Gradio's table: rows drawn as they scroll into view
    assert counted >= 2 and grid.get_attribute("aria-rowcount") == str(counted + 1)  # and its header
    page.locator("#ld-board [data-testid=cell-1-2]").click()  # the second pair's forward mark: it replays
    for side in ("f", "r", "tf", "tr"):
        page.wait_for_function(f"document.querySelector('#ld-{side}-status').innerText.startsWith('done')",
                               timeout=30_000)
    pair = page.locator("#ld-board [data-testid=cell-1-0]").inner_text().strip()
    assert page.get_by_label("Verse pair").input_value() == pair
    assert page.get_by_label("Written B", exact=True).input_value() != ""


# ---- what a first-time visitor meets (issue 19) ---------------------------------------------------------
def choose(page, label, option):
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    if label == "Model":  # its settings arrive with the banner: set sliders only after them
        page.locator(".ld-banner", has_text=option).wait_for(timeout=30_000)
        page.wait_for_timeout(300)


def label_of(app, name):
    return next(c.label for c in app.choices.values() if c.short == name)


def test_compares_stop_ends_both_runs(page, monkeypatch):
    from llada_demo import LLaDAModelLM
    forward = LLaDAModelLM.forward
    monkeypatch.setattr(LLaDAModelLM, "forward", lambda *a, **k: time.sleep(0.05) or forward(*a, **k))
    page.get_by_role("tab", name="Compare").click()
    page.get_by_role("button", name="Generate both").click()
    page.wait_for_function("/step (\\d+)\\//.test(document.querySelector('#ld-b-status').innerText)", timeout=60_000)
    page.get_by_role("button", name="Stop", exact=True).click()  # Compare's own (the other tabs' are hidden)
    for side in "ab":
        page.wait_for_function(f"document.querySelector('#ld-{side}-status').innerText.startsWith('stopped')",
                               timeout=20_000)
    expect(page.get_by_label("Answer A")).to_have_value(re.compile(r"^\(stopped\)"), timeout=20_000)


def test_a_recitation_run_folds_its_end_of_text_into_one_cell(page, served):
    _, app = served
    choose(page, "Model", label_of(app, "recitation"))
    page.wait_for_function("document.querySelector('input[aria-label=\"number input for Answer length (tokens)\"]')"
                           ".value === '64'", timeout=30_000)
    page.get_by_placeholder("Type a prompt, then Generate").fill("The LORD is my shepherd; I shall not want.")
    page.get_by_role("button", name="Generate", exact=True).click()
    wait_status(page, "done")
    tail = page.locator("#ld-grid .ld-tail")
    assert re.fullmatch(r"end of text × \d+", tail.inner_text())
    count = int(tail.inner_text().rsplit(" ", 1)[1])
    visible = page.locator("#ld-grid .ld-cell[data-pos]:not(.ld-hidden)").count()
    assert visible + count == 64 and visible < 30
    tail.click()
    assert page.locator("#ld-grid .ld-cell.ld-hidden").count() == 0  # shown on a click
    scrub(page, 1)
    assert page.locator("#ld-grid .ld-tail").inner_text().startswith("\u25c2")  # (still open in the replay)
    assert final_answer(page) == (
        "He maketh me to lie down in green pastures: he leadeth me beside the still waters.")
    choose(page, "Model", label_of(app, "bundled"))


def test_the_plan_line_follows_lengths_typed_just_after_switching_models(page, served):
    # seen once in the tour: switching through the models and back, then typing lengths at once, left the
    # plan of the model's defaults under the typed lengths (each field's plan event ran in its own queue)
    from llada_demo.app.controls import plan_text
    _, app = served
    labels = [c.label for c in app.choices.values()]
    for label in labels[1:] + labels[:1]:  # every model, back to the first, without waiting
        page.get_by_label("Model", exact=True).click()
        page.get_by_role("option", name=label, exact=True).click()
    page.locator(".ld-banner", has_text=labels[0]).wait_for(timeout=60_000)
    for slider, value in (("Answer length (tokens)", 96), ("Steps", 48), ("Block length", 32)):
        set_slider(page, slider, value)
    expected = plan_text(dict(gen_length=96, steps=48, block_length=32, decoding="fixed", infill=False))
    page.get_by_text(expected).wait_for(timeout=30_000)
    page.wait_for_timeout(2000)  # and it stays
    assert page.get_by_text(expected).is_visible()


def test_the_twins_heatmap_shows_no_prediction_where_it_predicted_nothing(page, served):
    _, app = served
    choose(page, "Model", label_of(app, "twin"))
    start_run(page, "And God said", 16, 16, 16)
    wait_status(page, "done")
    canvas = page.locator("#ld-heatmap canvas.ld-heat-cells")
    pixel = page.evaluate("""() => { const c = document.querySelector('#ld-heatmap canvas.ld-heat-cells');
        const cell = c.width / 16; return [...c.getContext('2d').getImageData(12 * cell, 2 * cell, 1, 1).data]; }""")
    assert pixel == [200, 200, 206, 255]  # grey: step 3 predicted position 2 only
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 12.5 / 16, box["y"] + box["height"] * 2.5 / 16)
    assert page.locator("#ld-heatmap .ld-tip").inner_text() == "position 12 · step 3 · no prediction"
    choose(page, "Model", label_of(app, "bundled"))


def test_compare_aligns_its_columns_and_draws_no_boundary_between_one_token_blocks(page):
    set_slider(page, "Answer length (tokens)", 16)
    set_slider(page, "Steps", 16)
    set_slider(page, "Block length", 8)
    page.get_by_role("tab", name="Compare").click()
    page.get_by_role("button", name="Generate both").click()  # LLaDA's order vs left to right: B in blocks of 1
    for side in "ab":
        page.wait_for_function(f"document.querySelector('#ld-{side}-status').innerText.startsWith('done')",
                               timeout=60_000)
    assert page.locator("#ld-b-grid .ld-block-start").count() == 0
    assert page.locator("#ld-a-grid .ld-block-start").count() == 1  # A: two blocks of 8
    tops = [page.locator(f"#ld-{side}-grid").bounding_box()["y"] for side in "ab"]
    assert abs(tops[0] - tops[1]) < 2, tops


@pytest.mark.skipif(shutil.which("bible") is None and not os.environ.get("CI"), reason="Debian's bible-kjv is absent")
def test_the_reversal_tables_headers_keep_whole_words(page):
    page.get_by_role("tab", name="Reversal").click()
    page.get_by_role("button", name="Run both directions").click()
    page.locator(".ld-measured table").wait_for(timeout=60_000)
    styles = page.evaluate("""() => [...document.querySelectorAll('.ld-measured th, .ld-measured td')]
        .map((c) => getComputedStyle(c).wordBreak + ' ' + getComputedStyle(c).overflowWrap)""")
    assert set(styles) == {"normal normal"}


def test_an_opened_run_fills_the_prompt_and_the_answer(page, served, tmp_path):
    _, app = served
    start_run(page, "And the earth", 16, 8, 8)
    wait_status(page, "done")
    answer = final_answer(page)
    run_file = tmp_path / "run.json"
    run_file.write_bytes(app.tabs.generate.write_exports(last_session(app).trajectory, "done", answer)[0].read_bytes())
    page.reload()
    page.locator("#ld-open").wait_for(state="attached")
    page.set_input_files("#ld-open", str(run_file))
    wait_status(page, "done")
    assert page.get_by_placeholder("Type a prompt, then Generate").input_value() == "And the earth"
    assert page.get_by_label("Answer", exact=True).input_value() == answer != ""
    assert after_run_charts(page)[1] > 0  # after-run charts too


def test_an_error_toast_goes_when_the_next_run_starts(page):
    start_run(page, "In the beginning", 16, 8, 8, fixed="one: x")
    toast = page.get_by_test_id("toast-body")
    toast.first.wait_for(timeout=20_000)
    page.get_by_label("Fixed tokens (answer position: text)").fill("")
    page.get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_function("document.querySelectorAll('[data-testid=toast-body]').length === 0", timeout=10_000)
    wait_status(page, "done")


def after_run_charts(page) -> tuple[int, int]:
    """Wait for the after-run charts of the run that ended: (steps in the progress chart, positions in the
    unmask-order map)."""
    page.wait_for_function("document.querySelector('#ld-progress').dataset.steps > 0 "
                           "&& document.querySelector('#ld-order').dataset.positions > 0", timeout=20_000)
    return tuple(page.evaluate("[+document.querySelector('#ld-progress').dataset.steps, "
                               "+document.querySelector('#ld-order').dataset.positions]"))


def test_the_after_run_charts_labels_clear_each_other(page):
    # the unmask-order map's and the progress chart's axes are drawn on canvases: every upright text's box
    # as drawn (measureText), none overlapping another, the axis title 4 px or more below its ticks
    start_run(page, "In the beginning", 16, 8, 8)
    wait_status(page, "done")
    after_run_charts(page)
    for chart in ("#ld-order", "#ld-progress"):
        texts = page.evaluate(f"document.querySelector('{chart} canvas.ld-axes').texts")
        kinds = {t["kind"] for t in texts}
        assert {"title", "xtick", "xtitle"} <= kinds, (chart, kinds)
        for i, a in enumerate(texts):
            for b in texts[i + 1:]:
                apart = a["right"] <= b["left"] or b["right"] <= a["left"] or a["bottom"] <= b["top"] or b["bottom"] <= a["top"]
                assert apart, (chart, a, b)
        ticks = max(t["bottom"] for t in texts if t["kind"] == "xtick")
        assert next(t["top"] for t in texts if t["kind"] == "xtitle") - ticks >= 4, chart


def inspect_cell(page, position):
    """Click an answer cell: its panel opens; wait for the model's top 5 there. Their texts and shares."""
    page.locator(f"#ld-grid .ld-cells .ld-cell[data-pos='{position}']").click()
    page.locator("#ld-live .ld-inspect .ld-spark").wait_for()
    page.locator("#ld-live .ld-inspect .ld-top").nth(4).wait_for(timeout=30_000)
    return page.locator("#ld-live .ld-inspect .ld-top").all_inner_texts()


def set_cell(page, position, text):
    page.locator(f"#ld-grid .ld-cells .ld-cell[data-pos='{position}']").click()
    page.locator("#ld-live .ld-inspect-input").fill(text)
    page.locator("#ld-live .ld-inspect").get_by_role("button", name="set", exact=True).click()


def continue_and_wait(page, branches):
    page.locator("#ld-live .ld-inspect").get_by_role("button", name="Continue from here").click()
    page.locator("#ld-branches button").nth(branches).wait_for(timeout=30_000)
    wait_status(page, "done")


def test_a_cell_inspected_and_a_run_steered_from_a_step(page, served, loaded):
    _, app = served
    choose(page, "Remasking strategy", "low_confidence")  # greedy: a continuation repeats the run exactly
    start_run(page, "In the beginning", 32, 16, 16)
    wait_status(page, "done")
    original = last_session(app).trajectory
    shown, answer = answer_cells(page), final_answer(page)
    # inspect: the cell's history from the page, its top 5 from the server (top 1: the next step's guess)
    scrub(page, 6)
    view, after = original.view(6), original.view(7)
    p, q = [int(i) for i in np.flatnonzero(view.masked & after.masked)[:2]]
    asked = []
    page.on("request", lambda r: asked.append(r.url) if r.method == "POST" else None)
    top = inspect_cell(page, p)
    assert len(top) == 5 and len(asked) == 1  # one request: the top 5; the rest is drawn from the records
    assert top[0].startswith(f"1. {json.dumps(loaded.tokenizer.decode([after.guesses[p]]))}")
    panel = " ".join(page.locator("#ld-live .ld-inspect").inner_text().split())
    assert f"position {p} · step 6/16" in panel and "step 6 committed 2:" in panel
    assert page.locator(f"#ld-grid .ld-cell[data-pos='{p}']").get_attribute("class").count("ld-selected") == 1
    assert page.locator("#ld-heatmap .ld-heat-row").is_visible()  # the scrubbed step's row marked
    # edit two cells at step 6 and continue: a branch, its edits kept, the original still there
    set_cell(page, p, " God")
    set_cell(page, q, HOSTILE)  # markup typed: refused (many tokens) with a message, as text
    page.locator("#ld-live .ld-inspect").get_by_role("button", name="Continue from here").click()
    toast = page.get_by_test_id("toast-body").first
    toast.wait_for(timeout=20_000)
    assert "tokens here" in toast.inner_text() and toast.locator("img").count() == 0
    assert page.evaluate("window.pwned === undefined")
    assert [m for m, _ in answer_cells(page)] == view.masked.tolist()  # the run on screen stays, at step 6
    edits = " ".join(page.locator("#ld-live .ld-inspect").inner_text().split())
    assert f'edits at step 6: {p} → " God", {q} → {json.dumps(HOSTILE)}' in edits  # kept, to be corrected
    set_cell(page, q, " earth")
    continue_and_wait(page, 1)
    assert page.locator("#ld-branches button").all_inner_texts() == ["original", "branch 1 (from step 6)"]
    branch = last_session(app).trajectory
    assert branch.branched_at == 6 and branch.finished
    cells = answer_cells(page)
    god, earth = (loaded.tokenizer.convert_tokens_to_ids(loaded.tokenizer.tokenize(t))[0] for t in (" God", " earth"))
    assert cells[p] == [False, god] and cells[q] == [False, earth]
    assert [t for _, t in cells] == branch.final_tokens().tolist()
    for i in (p, q):
        assert "ld-edited" in page.locator(f"#ld-grid .ld-cell[data-pos='{i}']").get_attribute("class")
    # the original, unchanged; continued from step 6 with no edit, it comes out the same
    assert final_answer(page, other_than=answer) != answer
    page.locator("#ld-branches").get_by_role("button", name="original").click()
    assert answer_cells(page) == shown and page.get_by_label("Answer", exact=True).input_value() == answer
    scrub(page, 6)
    page.locator(f"#ld-grid .ld-cells .ld-cell[data-pos='{p}']").click()
    continue_and_wait(page, 2)
    assert answer_cells(page) == shown and last_session(app).trajectory.branched_at == 6


def test_an_opened_run_is_inspected_and_continued_from_its_file(page, served, tmp_path, browser):
    _, app = served
    choose(page, "Remasking strategy", "low_confidence")
    start_run(page, "And God said", 24, 12, 8)
    wait_status(page, "done")
    trajectory = last_session(app).trajectory
    json_file, html_file = app.tabs.generate.write_exports(trajectory, "done", "")[:2]
    copy = tmp_path / "run.json"
    copy.write_bytes(json_file.read_bytes())
    page.reload()
    page.locator("#ld-open").wait_for(state="attached")
    page.set_input_files("#ld-open", str(copy))
    wait_status(page, "done")
    scrub(page, 3)
    p = int(np.flatnonzero(trajectory.view(3).masked)[0])
    assert len(inspect_cell(page, p)) == 5  # asked with the file's messages: the server does not keep it
    continue_and_wait(page, 1)
    assert [t for _, t in answer_cells(page)] == trajectory.final_tokens().tolist()
    assert last_session(app).trajectory.branched_at == 3
    # the standalone page has no server: the panel says where the top 5 come from
    offline = browser.new_context(offline=True).new_page()
    offline.goto(html_file.as_uri())
    offline.wait_for_function("document.querySelector('#ld-status').innerText.startsWith('done')", timeout=20_000)
    offline.locator(f"#ld-grid .ld-cells .ld-cell[data-pos='{p}']").click()
    assert "the app's server gives them" in offline.locator(".ld-inspect").inner_text()
    assert offline.locator(".ld-inspect .ld-spark").is_visible()
    offline.context.close()
