"""The offline demo model (a script, no LLM) and the fake Responses stream it speaks."""

from .model import DEMO_LABEL, DemoModel

__all__ = ["DEMO_LABEL", "DemoModel"]
