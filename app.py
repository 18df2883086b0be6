"""Unlearning Studio: the tabs of the method registry (``methods/registry.py``) over one library. Run: ``python app.py``."""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import importlib  # noqa: E402

if os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "true"):
    import spaces  # noqa: E402,F401 - Hugging Face's ZeroGPU package must be imported before anything touches CUDA

import gradio as gr  # noqa: E402

from methods.registry import tabs as registered_tabs  # noqa: E402
from ui.directions import use_as_feature  # noqa: E402
from ui.common import EXAMPLES_ROOT, PRIVATE, QUEUE, wired  # noqa: E402
from ui.worker import configure_log  # noqa: E402

TITLE = "Unlearning Studio"
# System fonts only: the default theme fetches web fonts, which an offline machine cannot reach.
THEME = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
HEADER = """
# Unlearning Studio
Make a pretrained generator **forget** — an identity, a concept or a visual feature — without its training data.
Everything here runs offline on a CPU: a real pretrained face GAN, and small digit and text-to-image (emoji) models trained by this repository (see the README for how, and for measured results).
"""


def build_app() -> gr.Blocks:
    """The whole app: one tab per tab module the method registry names (``ui/<tab>.py``: ``TITLE``, ``build()``)."""
    with gr.Blocks(title=TITLE, delete_cache=(3600, 6 * 3600)) as demo:
        gr.Markdown(HEADER)
        built = {}
        with gr.Tabs() as tabs:
            for name in registered_tabs():
                module = importlib.import_module(f"ui.{name}")
                with gr.Tab(module.TITLE, id=name):
                    built[name] = module.build()
        # Across tabs: a discovered direction becomes the feature to unlearn.
        found, feature_inputs = built["directions"], built["features"]
        found["use_button"].click(use_as_feature, found["use_inputs"], wired({**feature_inputs, "tabs": tabs}, use_as_feature),
                                  api_visibility=PRIVATE)
        demo.load(*found["initial"], api_visibility=PRIVATE)
    # Training runs share one slot per process (2 CPU cores); labelling events are light.
    demo.queue(default_concurrency_limit=4, max_size=32)
    calm_queue(demo)
    return demo


# Gradio's queue looks for work every 1 ms while it has none, and for progress to send every 10 ms: about a tenth
# of a core on an idle Space (benchmarks/server_noise.py), and each wake-up takes a core from a training run's threads
# for a moment. At 20 ms and 100 ms (Gradio's own values on Windows are 50 and 100 ms) an event starts at most 20 ms
# later and a progress bar moves ten times a second.
QUEUE_POLL_S, PROGRESS_POLL_S = 0.02, 0.1


def calm_queue(demo: gr.Blocks) -> None:
    """Set the queue's polling intervals to :data:`QUEUE_POLL_S` and :data:`PROGRESS_POLL_S` (a Gradio without these
    attributes is left as it is; tests/tabs check that they are set)."""
    queue = getattr(demo, "_queue", None)
    if queue is not None and hasattr(queue, "sleep_when_free") and hasattr(queue, "progress_update_sleep_when_free"):
        queue.sleep_when_free, queue.progress_update_sleep_when_free = QUEUE_POLL_S, PROGRESS_POLL_S


if __name__ == "__main__":
    configure_log("server")
    QUEUE.warm_up()  # a stand-by worker imports the libraries while the page loads: the first run starts at once
    build_app().launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        theme=THEME,
        max_file_size="100mb",
        allowed_paths=[str(EXAMPLES_ROOT)],  # the precomputed examples' downloads (public files shipped in the repo)  # larger uploads get Gradio's own message; methods/face_input.py refuses > 40 MP anyway
    )
