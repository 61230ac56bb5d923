"""The Gradio app: the model catalogue, the settings' controls, per-tab sessions, runs and their transport,
the tabs (app/tabs/, one module each: layout, events, handlers), the API and the page. The top of the
layers: it imports all the others, none imports it."""

from .controls import plan_text
from .demo import DemoApp
from .layout import build_demo, launch, launch_options

__all__ = ["DemoApp", "build_demo", "launch", "launch_options", "plan_text"]
