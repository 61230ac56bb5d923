"""The Gradio app: the model catalogue, prompts from what users type, per-tab sessions, the handlers
and the page layout. The top of the layers: it imports all the others, none imports it."""

from .handlers import DemoApp, plan_text
from .layout import build_demo, launch, launch_options

__all__ = ["DemoApp", "build_demo", "launch", "launch_options", "plan_text"]
