"""Gradio tabs of Unlearning Studio: layout and handlers only; the work is done in ``methods``."""
