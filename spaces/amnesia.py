"""Amnesia tab: Selective Amnesia makes a conditional generator forget one concept.

Layout first, then one handler per event; each handler calls one function of ``methods``.
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from methods import selective_amnesia as sa
from methods.backends import load_generator
from spaces.common import CancelFlags, clamp_number, labelled_rows, new_run_dir, session_id, user_errors

MODELS = {"digits cVAE (offline, trained here on scikit-learn's digits)": "digits-cvae",
          "digits diffusion — class-conditional DDPM (offline, trained here)": "digits-ddpm"}
CLASSES = [str(i) for i in range(10)]
SURROGATES = ["uniform noise"] + CLASSES
CANCEL = CancelFlags()

INTRO = """
### Amnesia — forget one concept, keep the rest (Selective Amnesia, Heng & Soh, NeurIPS 2023)
Pick a digit to forget and what it should become (**uniform noise**, or another digit). The model is
fine-tuned to generate the surrogate for that class, while **generative replay** from the frozen original
and an **EWC penalty** (the Fisher information, estimated from the model's own samples) keep every other digit.
A digits classifier — trained on a separate split, never used by the method — judges before and after.
*The Stable Diffusion adapter is not in this build yet.*
"""


def build() -> None:
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1):
            model = gr.Dropdown(list(MODELS), value=list(MODELS)[0], label="Model")
            forget = gr.Dropdown(CLASSES, value="0", label="Concept to forget")
            surrogate = gr.Dropdown(SURROGATES, value="uniform noise", label="Remap it to (surrogate)")
            with gr.Accordion("Settings", open=False):
                lmbda = gr.Slider(0, 1000, 100, step=10, label="λ — EWC (Fisher) weight")
                gamma = gr.Slider(0, 10, 1, step=0.1, label="γ — replay weight")
                steps = gr.Slider(100, 20000, 10000, step=100, label="Steps", info="defaults: cVAE 10k (official), DDPM 1500 (CPU budget)")
                seed = gr.Number(0, label="Seed", precision=0, minimum=0)
            with gr.Row():
                run_btn = gr.Button("Forget", variant="primary", elem_id="sa-run")
                stop_btn = gr.Button("Cancel", variant="stop")
            status = gr.Markdown(elem_id="sa-status")
        with gr.Column(scale=2):
            with gr.Row():
                with gr.Column():
                    gr.Markdown("#### Before — one row per digit, fixed latents")
                    before = gr.Image(type="pil", interactive=False, show_label=False, elem_id="sa-before")
                with gr.Column():
                    gr.Markdown("#### After — the same latents")
                    after = gr.Image(type="pil", interactive=False, show_label=False, elem_id="sa-after")
            metrics = gr.Dataframe(headers=["metric (digits classifier)", "before", "after"], interactive=False, wrap=True,
                                   elem_id="sa-metrics")
            downloads = gr.File(label="Downloads: generator.safetensors, config.json, report.json", file_count="multiple",
                                interactive=False)
    model.change(model_defaults, [model], [lmbda, steps])
    run_evt = run_btn.click(forget_concept, [model, forget, surrogate, lmbda, gamma, steps, seed],
                            [before, after, metrics, downloads, status], concurrency_limit=1, concurrency_id="training")
    stop_btn.click(cancel, None, [status], cancels=[run_evt], queue=False)


def model_defaults(model: str):
    """Show the chosen model's default λ and steps."""
    config = sa.AmnesiaConfig.for_model(MODELS.get(model, ""))
    return gr.Slider(value=config.lmbda), gr.Slider(value=config.steps)


def cancel(request: gr.Request) -> str:
    CANCEL.cancel(session_id(request))
    return "Cancelling…"


@user_errors(status=4, n_outputs=5)
def forget_concept(model: str, forget: Any, surrogate: Any, lmbda: Any, gamma: Any, steps: Any, seed: Any,
                   request: gr.Request = None, progress=gr.Progress()):
    """Forget one concept; show samples of every concept before/after, the metrics and downloads."""
    if model not in MODELS:
        raise ValueError(f"unknown model '{model}'")
    backend = load_generator(MODELS[model])
    config = sa.AmnesiaConfig.for_model(
        MODELS[model], forget=str(forget), surrogate="noise" if surrogate == "uniform noise" else str(surrogate),
        lmbda=clamp_number(lmbda, 0, 1e6, "λ"), gamma=clamp_number(gamma, 0, 100, "γ"),
        steps=int(clamp_number(steps, 1, 100_000, "Steps", integer=True)),
        seed=int(clamp_number(seed, 0, 2**31 - 1, "Seed", integer=True)),
    )
    out_dir = new_run_dir("amnesia")
    comparison = sa.forget_and_compare(backend, config, out_dir=out_dir, progress=lambda f, m: progress(f, desc=m),
                                       cancel=CANCEL.start(session_id(request)))
    rows = [[name, _fmt(b), _fmt(a)] for name, b, a in comparison.metrics]
    files = [str(out_dir / n) for n in ("generator.safetensors", "config.json", "report.json")]
    done = f"Done: forgot '{config.forget}' → {surrogate} in {comparison.result.report['wall_s']:.1f} s."
    mark = lambda grid: {(f"{k} forgotten" if k == config.forget else k): v for k, v in grid.items()}  # noqa: E731
    return (labelled_rows(mark(comparison.before), tile=36, label_width=110),
            labelled_rows(mark(comparison.after), tile=36, label_width=110), rows, files, done)


def _fmt(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)
