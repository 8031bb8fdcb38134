"""Gradio chat UI for the rag bot: `from ui.app import build, launch`."""
