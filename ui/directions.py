"""Directions tab: discovered latent directions (SeFa, Voynov & Babenko) as live sliders.

Layout first, then one handler per event; each handler calls one function of ``methods``.
"""
from __future__ import annotations

import random
from typing import Any, Optional

import gradio as gr
import numpy as np
from PIL import Image

from methods import directions as dirs
from methods.backends import DEFAULT_FACE_GENERATOR, FACE_GENERATORS, load_generator
from methods.runtime import to_uint8
from methods.runtime.config import coerce_number
from ui.common import PRIVATE, checked_by_handler, labelled_rows, user_errors, wired
from methods.errors import InputError

MAX_SLIDERS = 20
SHIFT_RANGE = (1.0, 20.0)  # the ±ε range slider's bounds, and so the most a direction's slider can reach
STRIP_SEEDS, STRIP_COLUMNS = 6, 7
MAX_SEED = 2**31 - 1
DISPLAY = 320  # 64-px faces are shown up-scaled
METHOD_LABELS = {"SeFa — closed form (instant)": "sefa", "Voynov & Babenko — trained, shipped": "voynov"}

TITLE = "Directions"  # the tab's name in the app
INTRO = """
### Directions — what does each latent direction change?
Directions are found **without labels**: *SeFa* takes the eigenvectors of the generator's first layer
(closed form, instant); *Voynov & Babenko* trains K directions jointly with a reconstructor that must tell
them apart (shipped pre-trained). The text beside each slider is **measured** (brightness, colour,
face position/size, head turn, mouth opening along the direction), not guessed.
Move the sliders, look at one direction across several faces in the strip, and send a direction to the
**Features** tab to unlearn it — no labelling needed.
"""


def build() -> dict[str, Any]:
    """Lay out the tab; return what app.py wires across tabs ('Use as feature', the first load)."""
    state = gr.State(None)  # {"method", "directions": (K, D) array, "descriptions": [...]}, per session
    gr.Markdown(INTRO)
    with gr.Row():
        method = gr.Radio(list(METHOD_LABELS), value=list(METHOD_LABELS)[0], label="Method", scale=2)
        generator = gr.Dropdown(list(FACE_GENERATORS), value=DEFAULT_FACE_GENERATOR, label="Generator", scale=1,
                                allow_custom_value=True)  # load_method checks it, in plain words
        upload = gr.File(label="…or load a directions.safetensors", file_types=[".safetensors"], type="filepath", scale=1)
    with gr.Row():
        with gr.Column(scale=2):
            face = gr.Image(label="Face", type="pil", interactive=False, buttons=[], height=DISPLAY, elem_id="dir-face")
            with gr.Row():
                seed = checked_by_handler(gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED))
                random_btn = gr.Button("Random face")
                reset_btn = gr.Button("Reset sliders")
            with gr.Row():
                count = checked_by_handler(gr.Slider(1, MAX_SLIDERS, 8, step=1, label="Directions shown"))
                max_shift = checked_by_handler(gr.Slider(*SHIFT_RANGE, 6, step=0.5, label="Slider range ±ε"))
            info = gr.Markdown(elem_id="dir-info")
        with gr.Column(scale=3):
            sliders = [checked_by_handler(gr.Slider(-6, 6, 0, step=0.1, label=f"direction {i + 1}", visible=i < 8,
                                                    elem_id=f"dir-s{i}"))
                       for i in range(MAX_SLIDERS)]
    gr.Markdown("#### One direction on several faces")
    with gr.Row():
        which = checked_by_handler(gr.Number(1, label="Direction #", precision=0, minimum=1, maximum=100))
        strip_btn = gr.Button("Show strip")
        side = gr.Radio(["+ side", "− side"], value="+ side", label="Forget which side", info="the side of the direction to unlearn")
        use_btn = gr.Button("Use as feature → Features tab", variant="primary", elem_id="dir-use")
    strip_caption = gr.Markdown(elem_id="dir-strip-caption")
    strip = gr.Image(type="pil", interactive=False, buttons=[], show_label=False, elem_id="dir-strip")

    ui = dict(state=state, face=face, info=info, seed=seed, strip=strip, strip_caption=strip_caption,
              **{name: s for name, s in zip(SLIDERS, sliders)})
    load_inputs = [method, generator, upload, count, max_shift, seed]
    load_outputs = wired(ui, load_method)
    method.change(load_method, load_inputs, load_outputs, api_name="directions_load")
    for event in (upload.upload, generator.change, count.release, max_shift.release, reset_btn.click):
        event(load_method, load_inputs, load_outputs, api_visibility=PRIVATE)
    for i, s in enumerate(sliders):  # one public endpoint renders a face; the other 19 sliders call it privately
        s.release(render_face, [state, seed, *sliders], [face], queue=False, show_progress="hidden", trigger_mode="always_last",
                  **({"api_name": "directions_render"} if i == 0 else {"api_visibility": PRIVATE}))
    seed.submit(render_face, [state, seed, *sliders], [face], show_progress="hidden", api_visibility=PRIVATE)
    random_btn.click(random_face, [state, *sliders], wired(ui, random_face), show_progress="hidden", api_visibility=PRIVATE)
    strip_btn.click(show_strip, [state, which, max_shift], wired(ui, show_strip), api_name="directions_strip")
    return {"use_button": use_btn, "use_inputs": [state, which, side],
            "initial": (load_method, load_inputs, load_outputs)}  # app.py runs it when a page opens (SeFa: < 1 s)


# ------------------------------------------------------------------------------------------------
# Handlers
# ------------------------------------------------------------------------------------------------
def _face_image(backend, latent) -> Image.Image:
    image = to_uint8(backend.render(latent[None]))[0]
    return Image.fromarray(image).resize((DISPLAY, DISPLAY), Image.BICUBIC)


SLIDERS = tuple(f"slider{i}" for i in range(MAX_SLIDERS))


@user_errors(outputs=("state", "face", "info", *SLIDERS), status="info")
def load_method(method_label: str, generator_name: str, upload_path: Optional[str], count: Any, max_shift: Any, seed: Any):
    """Load the directions of the chosen method (or an uploaded file) and reset the sliders."""
    n = int(coerce_number(count, 1, MAX_SLIDERS, "Directions shown", integer=True))
    eps = coerce_number(max_shift, *SHIFT_RANGE, "Slider range")
    seed = int(coerce_number(seed, 0, MAX_SEED, "Seed", integer=True))
    if generator_name not in FACE_GENERATORS:  # a name from the list, never a folder on the server
        raise InputError(f"unknown generator: this tab shows {' or '.join(repr(g) for g in FACE_GENERATORS)}")
    backend = load_generator(generator_name)
    if upload_path:
        directions, report = dirs.load_directions(upload_path, backend.latent_dim)
        descriptions = [d.get("text", "") for d in report.get("descriptions", [])] + [""] * len(directions)
        source = f"uploaded file ({len(directions)} directions)"
    else:
        method = METHOD_LABELS.get(method_label, "sefa")
        directions, descriptions = dirs.directions_for(method, backend)
        source = method_label
    n = min(n, len(directions))
    state = {"generator": generator_name, "directions": directions.numpy(), "descriptions": descriptions[: len(directions)]}
    updates = {}
    for i, name in enumerate(SLIDERS):
        label = f"#{i + 1}" + (f" · {descriptions[i]}" if i < len(descriptions) and descriptions[i] else "")
        updates[name] = gr.Slider(minimum=-eps, maximum=eps, value=0, label=label, visible=i < n)
    info = f"**{source}** on `{generator_name}` · showing {n} of {len(directions)} directions · range ±{eps:g}"
    return {"state": state, "face": _face_image(backend, backend.sample_latents(1, seed)[0]), "info": info, **updates}


def _require(state: Optional[dict]) -> dict:
    if not state or "directions" not in state:
        raise InputError("choose a method first: no directions are loaded")
    return state


@user_errors
def render_face(state: Optional[dict], seed: Any, *values: Any) -> Image.Image:
    """The face of ``seed`` moved by every slider (the live view)."""
    state = _require(state)
    seed = int(coerce_number(seed, 0, MAX_SEED, "Seed", integer=True))
    # a direction's slider spans ±ε, at most the range slider's top: the handler checks the range the page offers
    coefficients = [coerce_number(v, -SHIFT_RANGE[1], SHIFT_RANGE[1], "Slider value") for v in values]
    backend = load_generator(state["generator"])
    latent = dirs.shift_latent(backend.sample_latents(1, seed)[0], state["directions"], coefficients)
    return _face_image(backend, latent)


@user_errors(outputs=("seed", "face"))
def random_face(state: Optional[dict], *values: Any):
    seed = random.randint(0, 99_999)
    return {"seed": seed, "face": render_face(state, seed, *values)}


@user_errors(outputs=("strip", "strip_caption"))
def show_strip(state: Optional[dict], which: Any, max_shift: Any):
    """Direction ``which`` from -ε to +ε on six faces, with the ε of each column and a caption naming it."""
    state = _require(state)
    k = len(state["directions"])
    index = int(coerce_number(which, 1, k, "Direction #", integer=True)) - 1
    eps = coerce_number(max_shift, *SHIFT_RANGE, "Slider range")
    backend = load_generator(state["generator"])
    images = to_uint8(dirs.direction_strip(backend, state["directions"][index], list(range(STRIP_SEEDS)), eps,
                                           columns=STRIP_COLUMNS))
    rows = {f"seed {s}": images[s * STRIP_COLUMNS:(s + 1) * STRIP_COLUMNS] for s in range(STRIP_SEEDS)}
    # ASCII "-" in the picture: Pillow's built-in font has no typographic minus
    labels = [("-" if x < 0 else "+" if x > 0 else "") + f"{abs(x):.3g}" for x in dirs.strip_shifts(eps, STRIP_COLUMNS)]
    labels[0], labels[-1] = f"{labels[0]} (- side)", f"{labels[-1]} (+ side)"
    desc = state["descriptions"][index] if index < len(state["descriptions"]) else ""
    caption = (f"Direction #{index + 1}{': ' + desc if desc else ''} — each row is one face, moved from −{eps:g} (left) "
               f"to +{eps:g} (right) along it; the middle column is the face itself.")
    return {"strip": labelled_rows(rows, tile=88, label_width=90, column_labels=labels), "strip_caption": caption}


@user_errors(outputs=("direction_state", "banner", "use_direction", "tabs", "counts"))
def use_as_feature(state: Optional[dict], which: Any, side: str):
    """Send a direction to the Features tab as the feature to unlearn, and switch to that tab."""
    state = _require(state)
    k = len(state["directions"])
    index = int(coerce_number(which, 1, k, "Direction #", integer=True)) - 1
    sign = -1.0 if side.startswith("−") else 1.0
    vector = (sign * np.asarray(state["directions"][index], dtype=np.float32)).tolist()
    desc = state["descriptions"][index] if index < len(state["descriptions"]) else ""
    name = f"direction #{index + 1} ({side}){' · ' + desc if desc else ''}"
    banner = (f"**Feature from the Directions tab:** {name}. Threshold: the mean projection of prior samples. "
              "Untick the box to unlearn your own labels instead.")
    counts = "No labels needed: the direction sent from the Directions tab is the feature (untick the box to use labels)."
    return {"direction_state": {"vector": vector, "name": name, "generator": state["generator"]}, "banner": banner,
            "use_direction": gr.Checkbox(visible=True, value=True), "tabs": gr.Tabs(selected="features"), "counts": counts}
