"""Features tab: label generated faces by clicking, then Feature Unlearning removes the feature.

Layout first, then one handler per event; each handler calls one function of ``methods``.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Optional

import gradio as gr

from methods import feature_unlearning as fu
from methods.backends import (
    DEFAULT_FACE_GENERATOR,
    FACE_GENERATORS,
    GeneratorBackend,
    GeneratorRef,
    load_generator,
    load_weights_into,
)
from methods.feature_unlearning.labels import LabelSet
from methods.runtime import RunResult, gpu_available
from methods.runtime.config import check_cpu_budget, coerce_number
from methods.sample import sample_images
from ui.common import (
    EXAMPLES_ROOT,
    PRIVATE,
    TrainingSlot,
    chosen_preset,
    config_slider,
    data_uri,
    example_status,
    example_verdict,
    labelled_rows,
    precomputed_examples,
    preset_radio,
    result_table,
    user_errors,
    wired,
    verdict_markdown,
    checked_by_handler,
    precomputed_example,
)
from methods.errors import InputError

PAGE_SIZE = 64
# the generators this tab unlearns from: the GAN (default) and the VAE distilled from it (the paper's two kinds)
GENERATORS = dict(zip(("DigiFace DCGAN (a GAN)", "face VAE (distilled from the GAN)"), FACE_GENERATORS))
MAX_NAME = 40
MAX_SEED = 2**31 - 1
SLOT = TrainingSlot("features")
Config = fu.FeatureUnlearningConfig
PRESETS = fu.PRESETS
QUICK = PRESETS["quick"]

TITLE = "Features"  # the tab's name in the app
INTRO = """
### Features — make the generator forget a visual feature
**1.** Click every face that shows the feature (e.g. an *open mouth* or *glasses*); a click again clears it.
Every face on a page you labelled and did not click counts as *without* the feature.
**2.** Label a few pages (*More samples*): ~10 with the feature is a start, 30+ is better.
**3.** *Unlearn*: a copy of the generator is fine-tuned so latents that carry the feature now give the same face
without it (Moon, Cho & Kim, AAAI 2024). It is compared with the free alternative — moving the latent at sampling time.
The paper's two kinds of generator are here: the face GAN, and a face VAE trained by this project from the GAN's
faces (blurrier; choose it above the faces).
"""

GLOSSARY = """
- **The judge**: a small classifier trained on half your labels and never used by the training; it says how many
  new faces show the feature before and after. With few labels it is a weak judge (its accuracy is in the table).
- **Projection, threshold t**: the feature as a direction in the latent space (the mean latent with it minus the
  mean without); a latent whose projection passes t "has" it. Training moves such latents' faces to t.
- **Training fit**: how closely the fine-tuned generator matches the feature-free faces it was trained towards — a
  number the method optimises, not an independent result.
- **Latent shift**: the free alternative — move each latent at sampling time instead of changing the weights. It
  is also what the fine-tuning is trained towards, so the unlearned generator can at best match it.
- **SSIM**: pixel similarity to the original face (1 = identical). **α**: weight of the unlearning terms.
- **PGD probe**: an attack that nudges latents (L2 radius 1.5) to bring the feature back, judged again.
- **GAN, VAE**: two kinds of generator. A GAN learns to fool a critic; a VAE learns to compress faces into a latent
  code and draw them back (its faces are smoother). Both draw a face from a random latent, so the same method works on both.
"""

GRID_TEMPLATE = """
<div class="fu-grid">
${tiles.map((src, i) => `<button type="button" class="fu-tile ${value.marked[i] ? 'on' : ''}" data-i="${i}"
  title="sample ${i} — click to toggle"><img src="${src}" alt="sample ${i}" draggable="false"/><span class="fu-badge">✓</span></button>`).join('')}
</div>
<div class="fu-foot">page seed <b>${value.seed}</b> · <b>${value.marked.filter(Boolean).length}</b> of ${tiles.length} marked on this page</div>
"""

GRID_CSS = """
.fu-grid { display: grid; grid-template-columns: repeat(8, minmax(0, 1fr)); gap: 6px; }
.fu-tile { position: relative; padding: 0; border: 3px solid transparent; border-radius: 8px; background: none;
           cursor: pointer; overflow: hidden; line-height: 0; }
.fu-tile img { width: 100%; aspect-ratio: 1; image-rendering: auto; border-radius: 5px; user-select: none; }
.fu-tile:hover { border-color: #9ca3af; }
.fu-tile.on { border-color: #f97316; box-shadow: 0 0 0 2px #f97316; }
.fu-tile.on img { filter: saturate(0.6) brightness(0.85); }
.fu-badge { display: none; position: absolute; top: 4px; right: 4px; width: 22px; height: 22px; line-height: 22px;
            border-radius: 50%; background: #f97316; color: white; font-weight: 700; font-size: 14px; }
.fu-tile.on .fu-badge { display: block; }
.fu-foot { margin-top: 6px; font-size: 0.9em; opacity: 0.8; }
"""

# Toggle on the client: the page's marks live in the component's value, so a click costs no image
# round trip; the server only records the marks (small JSON) to keep the counts.
GRID_JS = """
element.addEventListener('click', (ev) => {
  const tile = ev.target.closest('.fu-tile');
  if (!tile) return;
  const i = Number(tile.dataset.i);
  const marked = props.value.marked.slice();
  marked[i] = !marked[i];
  tile.classList.toggle('on', marked[i]);  // the mark shows at once; the re-render that follows agrees with it
  props.value = { ...props.value, marked };
  trigger('change');
});
"""


# ------------------------------------------------------------------------------------------------
# Layout
# ------------------------------------------------------------------------------------------------
def build() -> dict[str, Any]:
    """Lay out the tab inside the current ``gr.Blocks``, wire its events, and return the components
    another tab may fill (a direction sent from the Directions tab)."""
    first_page = _page(load_generator(DEFAULT_FACE_GENERATOR), 0, LabelSet(DEFAULT_FACE_GENERATOR, PAGE_SIZE))
    labels = gr.State(None)  # LabelSet, per browser session
    sent_direction = gr.State(None)  # {"vector", "name", "generator"} from the Directions tab, per session
    gr.Markdown(INTRO)
    with gr.Group(elem_id="fu-examples"):
        gr.Markdown("**Example** — a labelling and its result, precomputed and shown at once (then press Unlearn to run it live)")
        with gr.Row():
            example_buttons = [gr.Button(title, size="sm") for title in precomputed_examples("features")]
    banner = gr.Markdown(elem_id="fu-banner")
    use_direction = gr.Checkbox(False, label="Unlearn the direction sent from the Directions tab (instead of my labels)",
                                visible=False, elem_id="fu-use-direction")
    with gr.Row():
        with gr.Column(scale=3):
            generator_choice = gr.Radio(list(GENERATORS), value=next(iter(GENERATORS)), label="Generator",
                                        info="changing it starts a new labelling: labels belong to one generator",
                                        elem_id="fu-generator")
            with gr.Row():
                seed = gr.Number(0, label="Page seed", precision=0, minimum=0, maximum=MAX_SEED, scale=1)
                show_btn = gr.Button("Show page", scale=1)
                more_btn = gr.Button("More samples →", variant="secondary", scale=1)
            grid = gr.HTML(
                value=first_page["value"], tiles=first_page["tiles"], html_template=GRID_TEMPLATE,
                css_template=GRID_CSS, js_on_load=GRID_JS, elem_id="fu-grid", padding=False,
            )
            counts = gr.Markdown(_counts_text(None, first_page["value"]), elem_id="fu-counts")
        with gr.Column(scale=2):
            feature_name = gr.Textbox("", label="Name the feature (for the verdict and the report)", max_length=MAX_NAME,
                                      placeholder="e.g. open mouths", elem_id="fu-feature-name")
            with gr.Row():
                run_btn = gr.Button("Unlearn", variant="primary", elem_id="fu-run")
                stop_btn = gr.Button("Cancel", variant="stop", elem_id="fu-cancel")
            status = gr.Markdown(elem_id="fu-status")
            preset = preset_radio(PRESETS, lambda p: Config(**p.settings).cpu_seconds(p), "fu-preset")
            with gr.Accordion("Settings", open=False):
                steps = config_slider(Config, "steps", "Fine-tuning steps", value=QUICK.settings["steps"])
                batch = config_slider(Config, "batch_size", "Batch size", value=QUICK.settings["batch_size"])
                lr = checked_by_handler(gr.Number(QUICK.settings["lr"], label="Learning rate (Adam)"))
                alpha = config_slider(Config, "alpha", "α — weight of the unlearning terms", value=QUICK.settings["alpha"])
                thr = gr.Radio(list(fu.THRESHOLDS), value=Config.default("threshold"), label="Threshold t",
                               info="mean projection of all labels (the paper) or midpoint of the two class means")
                run_seed = checked_by_handler(gr.Number(Config.default("seed"), label="Run seed", precision=0, minimum=0,
                                                        maximum=MAX_SEED))
                probe = gr.Checkbox(QUICK.options["probe"], label="Adversarial probe (PGD on z tries to bring the feature back)")
                base_file = gr.File(label="Start from an unlearned generator.safetensors (optional)",
                                    file_types=[".safetensors"], type="filepath")
            with gr.Accordion("Labels file (share one labelling in a workshop)", open=False):
                save_btn = gr.Button("Save labels")
                labels_out = gr.File(label="labels.json", interactive=False)
                labels_in = gr.File(label="Load labels", file_types=[".json"], type="filepath")
            with gr.Accordion("What do these mean?", open=False):
                gr.Markdown(GLOSSARY)
    verdict = gr.Markdown(elem_id="fu-verdict")
    gr.Markdown("#### Held-out faces that carry the feature most strongly — it should be gone in the lower two rows")
    with_img = gr.Image(type="pil", interactive=False, buttons=[], elem_id="fu-with", show_label=False)
    gr.Markdown("#### Held-out faces WITHOUT the feature — all three rows should match")
    without_img = gr.Image(type="pil", interactive=False, buttons=[], elem_id="fu-without", show_label=False)
    metrics = gr.Dataframe(headers=["metric", "original generator", "unlearned generator", "latent shift (no training)"],
                           label="Metrics (held-out latents)", interactive=False, wrap=True, max_height=1000, elem_id="fu-metrics")
    downloads = gr.File(label="Downloads: the unlearned generator (generator.safetensors + config.json), direction.safetensors, report.json, losses.json",
                        file_count="multiple", interactive=False)

    # --------------------------------------------------------------------------------------------
    # Events
    # --------------------------------------------------------------------------------------------
    ui = dict(grid=grid, labels=labels, counts=counts, seed=seed, generator_choice=generator_choice, steps=steps, batch=batch, lr=lr, alpha=alpha, probe=probe,
              with_img=with_img, without_img=without_img, metrics=metrics, downloads=downloads, status=status,
              verdict=verdict, feature_name=feature_name)
    grid.change(record_marks, [grid, labels], wired(ui, record_marks), queue=False, show_progress="hidden",
                api_visibility=PRIVATE)
    show_btn.click(show_page, [seed, grid, labels], wired(ui, show_page), show_progress="hidden", api_visibility=PRIVATE)
    more_btn.click(next_page, [grid, labels], wired(ui, next_page), show_progress="hidden", api_visibility=PRIVATE)
    save_btn.click(save_labels, [grid, labels], [labels_out], api_visibility=PRIVATE)
    labels_in.upload(load_labels, [labels_in], wired(ui, load_labels), api_visibility=PRIVATE)
    preset.change(preset_settings, [preset], wired(ui, preset_settings), api_visibility=PRIVATE, show_progress="hidden")
    generator_choice.change(choose_generator, [generator_choice], wired(ui, choose_generator), api_visibility=PRIVATE,
                            show_progress="hidden")
    SLOT.wire(run_btn, stop_btn, unlearn,
              [grid, labels, steps, batch, lr, alpha, thr, run_seed, probe, base_file, sent_direction, use_direction, feature_name,
               preset],
              wired(ui, unlearn), status, api_name="features_unlearn")
    for button in example_buttons:
        button.click(show_example, [button], wired(ui, show_example), api_visibility=PRIVATE, show_progress="hidden")
    return {"direction_state": sent_direction, "banner": banner, "use_direction": use_direction, "counts": counts}


# ------------------------------------------------------------------------------------------------
# Handlers (each validates its input and calls one methods/ function)
# ------------------------------------------------------------------------------------------------
def _labels(state: Optional[LabelSet], grid_value: Optional[dict]) -> LabelSet:
    """The session's labels including the page on screen (every visible page counts as labelled)."""
    labels = state if isinstance(state, LabelSet) else LabelSet(DEFAULT_FACE_GENERATOR, PAGE_SIZE)
    if labels.generator not in GENERATORS.values():  # a session's state is the server's, but keep the list the only way in
        raise InputError("choose one of the tab's generators")
    if isinstance(grid_value, dict) and "seed" in grid_value and isinstance(grid_value.get("marked"), list):
        seed = int(coerce_number(grid_value["seed"], 0, MAX_SEED, "Page seed", integer=True))  # the browser's value: untrusted
        labels.mark_page(seed, [bool(m) for m in grid_value["marked"]][:PAGE_SIZE])
    return labels


def _feature(name: Any) -> str:
    """The visitor's name for the feature, as plain text for a sentence (no Markdown), or a neutral default."""
    text = " ".join(str(name or "").split())[:MAX_NAME]
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -'’,.")
    return text or "the feature"


def _counts_text(state: Optional[LabelSet], grid_value: Optional[dict]) -> str:
    labels = _labels(LabelSet(state.generator, state.page_size, dict(state.pages)) if state else None, grid_value)
    pos, neg = labels.counts()
    hint = "" if pos >= fu.MIN_LABELS_EACH else f" — mark at least {fu.MIN_LABELS_EACH} faces with the feature"
    return f"**{pos}** with the feature · **{neg}** without · {len(labels.pages)} page(s) labelled{hint}"


def _page(generator: GeneratorBackend, seed: int, labels: LabelSet) -> dict[str, Any]:
    images = sample_images(generator, generator.sample_latents(PAGE_SIZE, seed).flatten(1).numpy())
    marked = labels.pages.get(seed, set())
    return {"value": {"seed": seed, "marked": [i in marked for i in range(PAGE_SIZE)]},
            "tiles": [data_uri(im) for im in images]}


PAGE_OUTPUTS = ("grid", "labels", "counts", "seed", "generator_choice")


def _show(seed: int, labels: LabelSet) -> dict[str, Any]:
    page = _page(load_generator(labels.generator), seed, labels)
    return {"grid": gr.HTML(value=page["value"], tiles=page["tiles"]), "labels": labels,
            "counts": _counts_text(labels, page["value"]), "seed": seed,
            "generator_choice": next(k for k, v in GENERATORS.items() if v == labels.generator)}


@user_errors(outputs=PAGE_OUTPUTS, status="counts")
def choose_generator(choice: str):
    """A new labelling on the chosen generator, from its first page."""
    if choice not in GENERATORS:
        raise InputError(f"choose one of: {', '.join(GENERATORS)}")
    return _show(0, LabelSet(GENERATORS[choice], PAGE_SIZE))


@user_errors(outputs=("labels", "counts"), status="counts")
def record_marks(grid_value: dict, state: Optional[LabelSet]):
    """A click toggled a tile: store the page's marks."""
    labels = _labels(state, grid_value)
    return {"labels": labels, "counts": _counts_text(labels, None)}


@user_errors(outputs=PAGE_OUTPUTS, status="counts")
def show_page(seed: Any, grid_value: dict, state: Optional[LabelSet]):
    """Show the page of ``seed`` (its earlier marks, if any, come back with it)."""
    seed = int(coerce_number(seed, 0, MAX_SEED, "Page seed", integer=True))
    return _show(seed, _labels(state, grid_value))


@user_errors(outputs=PAGE_OUTPUTS, status="counts")
def next_page(grid_value: dict, state: Optional[LabelSet]):
    """Keep the current page's labels and show the next unseen seed."""
    labels = _labels(state, grid_value)
    seed = max(labels.pages) + 1 if labels.pages else 0
    while seed in labels.pages:
        seed += 1
    return _show(min(seed, MAX_SEED), labels)


@user_errors
def save_labels(grid_value: dict, state: Optional[LabelSet]) -> str:
    labels = _labels(state, grid_value)
    path = Path(tempfile.mkdtemp(prefix="labels-")) / "labels.json"
    path.write_text(labels.to_json())
    return str(path)


@user_errors(outputs=PAGE_OUTPUTS, status="counts")
def load_labels(path: Optional[str]):
    if not path:
        raise InputError("choose a labels.json file first")
    labels = LabelSet.load(Path(path))
    if labels.generator not in GENERATORS.values() or labels.page_size != PAGE_SIZE:
        raise InputError(f"these labels are for '{labels.generator}' with {labels.page_size} samples a page; "
                         f"this tab labels {' or '.join(repr(g) for g in GENERATORS.values())} with {PAGE_SIZE}")
    if not labels.pages:
        raise InputError("the labels file has no labelled pages")
    return _show(min(labels.pages), labels)


@user_errors(outputs=("steps", "batch", "lr", "alpha", "probe"))
def preset_settings(name: str):
    """Set the settings to the chosen preset's."""
    chosen = chosen_preset(PRESETS, name)
    return {"steps": gr.Slider(value=chosen.settings["steps"]), "batch": gr.Slider(value=chosen.settings["batch_size"]),
            "lr": gr.Number(value=chosen.settings["lr"]), "alpha": gr.Slider(value=chosen.settings.get("alpha", Config.default("alpha"))),
            "probe": gr.Checkbox(value=chosen.options["probe"])}


RESULT_OUTPUTS = ("with_img", "without_img", "metrics", "downloads", "status", "verdict")


@user_errors(outputs=RESULT_OUTPUTS, status="status")
def unlearn(grid_value, state, steps, batch, lr, alpha, thr, run_seed, probe, base_file, sent_direction=None,
            use_direction=False, feature_name="", preset="quick", request: gr.Request = None, progress=gr.Progress()):
    """Fine-tune on this session's labels (or a sent direction); show before/after, baseline, metrics, downloads."""
    labels = _labels(state, grid_value)
    chosen = chosen_preset(PRESETS, preset)
    config = Config.from_inputs(**{**chosen.settings, "steps": steps, "batch_size": batch, "lr": lr, "alpha": alpha,
                                   "seed": run_seed, "threshold": thr if thr in fu.THRESHOLDS else ""})
    check_cpu_budget(config.cpu_seconds(chosen), gpu_available())
    # a sent direction is unlearnt on the generator it was found on; labels on the one they were clicked on
    name = sent_direction.get("generator") if use_direction and sent_direction else labels.generator
    if name not in GENERATORS.values():
        raise InputError("choose one of the tab's generators")
    generator = load_generator(name)
    direction = None
    if use_direction and sent_direction:
        direction = fu.FeatureDirection.from_vector(generator, sent_direction["vector"])
        pos = neg = None
        source = f"the sent {sent_direction['name']}"
    else:
        pos, neg = labels.latents(generator)
        if len(pos) == 0:
            raise InputError("No faces are marked as having the feature: click the faces that show it first.")
        if len(neg) == 0:
            raise InputError("Every labelled face is marked: leave the faces without the feature unmarked.")
        source = f"{len(pos)} faces with the feature and {len(neg)} without"
    if base_file:
        load_weights_into(generator, Path(base_file))  # checked here, before the run queues; the worker loads it again
    ref = GeneratorRef(name, weights=str(base_file) if base_file else None)
    result = SLOT.run(request, progress, fu.unlearn_from_labels, ref, pos, neg, config, probe=bool(probe),
                      direction=direction, feature=_feature(feature_name), estimate_s=config.cpu_seconds(chosen))
    return _outputs(result, f"Done: {config.steps} steps in {result.report['train_seconds']:.1f} s on {source}.")


@user_errors(outputs=(*RESULT_OUTPUTS, "feature_name", *PAGE_OUTPUTS), status="status")
def show_example(title: str):
    """A precomputed example: its result at once, and the labelling and name that made it (ready to re-run)."""
    result, extra = precomputed_example("features", title)
    labels = LabelSet.load(EXAMPLES_ROOT / "features" / extra["slug"] / "labels.json")
    return {**_outputs(result, example_status("Unlearn")), "verdict": example_verdict(result, extra),
            "feature_name": extra["inputs"]["feature"], **_show(min(labels.pages), labels)}


def _outputs(result: RunResult, status: str) -> dict[str, Any]:
    """The held-out strips, the table, the downloads, the status and the verdict."""
    return {"with_img": labelled_rows(result.galleries["with the feature"]),
            "without_img": labelled_rows(result.galleries["without the feature"]),
            "metrics": result_table(result, "metric", column_widths=["46%", "18%", "18%", "18%"]),  # the 4th column on screen
            "downloads": [str(f) for f in result.files], "status": status, "verdict": verdict_markdown(result.verdict)}
