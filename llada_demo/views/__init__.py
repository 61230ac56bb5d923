"""Views: token texts and the browser renderer (viewer/*.js) that draws runs from the wire format.

Imports trace and sampling only; the app serves these files and the run's messages.
"""

from .page import standalone_html
from .text import TokenText

__all__ = ["TokenText", "standalone_html"]
