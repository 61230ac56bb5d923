"""The browser renderer's files, and a run as a standalone HTML page that replays with no server.

The drawing itself is viewer/*.js (with viewer.css); it reads the messages of trace/wire.py. plotly.js
comes from the plotly Python package, so nothing is fetched from a CDN.
"""

from __future__ import annotations

import html
import json
from functools import lru_cache
from pathlib import Path

import plotly

HERE = Path(__file__).resolve().parent
# the renderer's files, in the order they load (each adds to window.LladaView: viewer/base.js says what)
VIEWER_JS = tuple(HERE / "viewer" / f"{name}.js" for name in ("base", "run", "grid", "inspect", "live", "charts", "tabs",
                                                                 "mount"))
VIEWER_CSS = HERE / "viewer.css"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


@lru_cache(maxsize=None)
def source(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def script_json(value) -> str:
    """JSON that is safe inside a <script> element: no '<' (so no '</script>' or '<!--')."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def _inline_script(code: str) -> str:
    return code.replace("</script", "<\\/script")


def standalone_html(document: dict, title: str = "llada-demo run") -> str:
    """One HTML file holding plotly.js, the renderer and the run: it replays from disk, offline."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title>"
        f"<style>body{{font-family:system-ui,sans-serif;margin:16px;max-width:1200px}}{source(VIEWER_CSS)}</style>"
        f"<script>{_inline_script(source(PLOTLY_JS))}</script>"
        + "".join(f"<script>{_inline_script(source(path))}</script>" for path in VIEWER_JS) +
        "</head><body>"
        f"<h3>{html.escape(title)}</h3>"
        "<div id=\"ld-live\"></div><div id=\"ld-charts\"></div>"
        f"<script type=\"application/json\" id=\"ld-run\">{script_json(document)}</script>"
        "<script>LladaView.standalone(document.getElementById('ld-live'), document.getElementById('ld-charts'),"
        " JSON.parse(document.getElementById('ld-run').textContent).messages);</script>"
        "</body></html>\n")
