"""Unlearning Studio's method library: generator back-ends, unlearning methods, metrics.

Nothing under this package imports Gradio: every method is usable from Python and from its CLI.
"""
