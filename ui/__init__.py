"""Gradio chat UI for the rag bot: `from ui.app import build, launch`; `rag ui` runs ui.app:main."""
from rag.cli import Command

COMMAND = Command("start the Gradio chat UI", "ui.app:main")
