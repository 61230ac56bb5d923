"""Messages for the people who use the app: checked text input, and errors escaped once for the page.

Gradio's toasts render HTML (measured in Chromium: '<b>' turned bold), so every message a page handler
raises is escaped once (`page_handler`); API clients get the same message as it is.
"""

from __future__ import annotations

import functools
import html
import inspect

import gradio as gr


class ToastError(gr.Error):
    """A gr.Error whose message is already escaped for the page's toasts: not escaped again."""


def for_toast(message: str) -> str:
    return html.escape(message, quote=False)


def toast(error: gr.Error) -> gr.Error:
    """`error` with its message escaped for the toasts, once."""
    return error if isinstance(error, ToastError) else ToastError(for_toast(error.message))


def page_handler(fn):
    """A handler the page calls (a function or a generator): its gr.Errors escaped for the toasts."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error as e:
                raise toast(e) from None
        return stream

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error as e:
            raise toast(e) from None
    return call


def text_input(name: str, value, *, required: bool = False) -> str:
    """What the user typed, checked to be text that can be encoded (no lone surrogates)."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise gr.Error(f"{name} must be text, got {type(value).__name__} {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = value[e.start]
        raise gr.Error(f"{name} holds U+{ord(bad):04X}, which is not a character (a lone surrogate); "
                       "remove it and try again") from None
    return value


def warn(message: str) -> None:
    """A warning toast (escaped: it may quote what the user typed)."""
    gr.Warning(for_toast(message))
