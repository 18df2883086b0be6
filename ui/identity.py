"""Identity tab: GUIDE makes the face generator forget the person in one uploaded photo.

Layout first, then one handler per event; each handler calls one function of ``methods``.
"""
from __future__ import annotations

from typing import Any, Optional

import gradio as gr

from methods import guide
from methods.backends import DEFAULT_FACE_GENERATOR, GeneratorRef
from methods.guide.face_input import align_face, load_photo
from methods.runtime import RunResult, gpu_available
from methods.runtime.config import check_cpu_budget
from ui.common import (
    EXAMPLES_ROOT,
    PRIVATE,
    TrainingSlot,
    config_slider,
    example_status,
    example_verdict,
    chosen_preset,
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

SLOT = TrainingSlot("identity")
Config = guide.GuideConfig
PRESETS = guide.PRESETS
ROBUST_ROUNDS = guide.ROBUST_ROUNDS


def _preset_seconds(preset) -> float:
    return Config(**preset.settings).cpu_seconds(preset.options["compare_baseline"], preset, preset.options["attack"])

TITLE = "Identity"  # the tab's name in the app
INTRO = """
### Identity — make the face generator forget one person (GUIDE, Seo et al., CVPR 2024)
Upload **one photo** (or click an example), then **Unlearn this person**. A face-recognition network that the
method never uses checks the result: the person should no longer be recognised, and everyone else should be.
"""

HOW = """
The face is aligned the way the generator frames its faces and *inverted*: the generator's latent that draws it is
found. GUIDE then fine-tunes a copy of the generator so that this latent — and its neighbourhood — draws a different,
un-identified face (the **target**), while random faces stay as they were. The paper's baseline (target = the
average face) runs beside it. **The target face** is, by default, one of the generator's own random faces — the one
nearest to the person that dlib finds as a face, of typical brightness, and recognised as someone else: a face of
nobody in particular. The paper's target (the person's latent mirrored past the average face, "UFO") is one setting
away; on this 64-px generator it is often a dark, odd face. **Robust mode** then attacks its own result: it inverts
the photo and its views again into the unlearned generator, adds every latent that still draws the person to what it
forgets, and trains on — a few rounds. A stronger attack that the training never sees judges the result.
"""

GLOSSARY = """
- **Face-recognition distance** (dlib's 128-d descriptor): below 0.6 means "the same person". *ID* is the distance
  between the person's face before and after; above 0.6 = forgotten.
- **Other photos and views** (*ID_others*): the photo mirrored, re-cropped and re-lit (and any extra photos), each
  inverted on its own — the person must be forgotten there too, not just in one latent.
- **Random faces kept** (*preservation*): random faces before and after that dlib still calls the same person; SSIM
  is their pixel similarity (1 = identical).
- **GUIDE**: the method; **target**: the face the person's latent draws afterwards — a random face of nobody (the
  default) or the paper's **UFO** point (*d*: how far past the average face, in units of a typical face's distance
  from it); **W space**: the generator's internal latent space used here.
- **Baseline**: the paper's comparison — the same fine-tuning towards the average face, with the local loss only.
- **Recovery attack** (held-out re-inversion): someone holding the unlearned generator and the photo inverts the
  photo and its views again — from the average face, from random starts and in the generator's input space, with a
  schedule no training used — and dlib says whether the face found is the person. The same attack on the original
  generator must find them (the check that the attack means something). On this generator it finds them again after
  GUIDE: the method hides the person's own latent, not every latent that can draw them.
- **Robust mode**: GUIDE alternated with an attack on its own result (the method's inversion, a training fit: its
  figures are named so), forgetting what the attack finds each round. Measured on two held-out photos, it does not
  make the person stay forgotten: the held-out attack found them in 86% of the photos and views (plain GUIDE 100%),
  and random faces changed more (SSIM 0.87 against 0.93).
- **Quick / Full**: quick uses fewer steps at a higher learning rate, three views and 16 random faces (a result in
  about 20 s); full is the benchmarked setting and adds the baseline and the recovery attack (on the photo and
  three of its views, within the Space's 5-minute limit; the command line attacks every view). Robust mode with
  the full preset and the attack is longer than that limit: run it from the command line.
"""


def build() -> None:
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1):
            photo = gr.File(label="Photo of one person (JPEG / PNG)", file_types=["image"], type="filepath", elem_id="id-photo",
                            height=110)
            with gr.Row():
                run_btn = gr.Button("Unlearn this person", variant="primary", elem_id="id-run")
                stop_btn = gr.Button("Cancel", variant="stop")
            status = gr.Markdown(elem_id="id-status")
            with gr.Row(equal_height=True):
                preset = preset_radio(PRESETS, _preset_seconds, "id-preset")
                with_attack = gr.Checkbox(PRESETS["quick"].options["attack"], elem_id="id-attack-on",
                                          label="Then try to bring the person back (invert the photo again into the result)")
            with gr.Group(elem_id="id-examples"):
                gr.Markdown("**Examples** — a photo and its result, precomputed and shown at once")
                with gr.Row():
                    example_buttons = [gr.Button(title, size="sm") for title in precomputed_examples("identity")]
            preview = gr.Image(label="Aligned face (what the generator sees)", type="pil", interactive=False, buttons=[], height=200,
                               elem_id="id-preview")
            others = gr.File(label="More photos of the same person (optional: they count in ID_others)", file_count="multiple",
                             file_types=["image"], type="filepath")
            with gr.Accordion("Settings", open=False):
                steps = config_slider(Config, "steps", "Fine-tuning steps", value=PRESETS["quick"].settings["steps"])
                robust = gr.Checkbox(Config.default("robust_rounds") > 0, elem_id="id-robust",
                                     label=f"Robust mode: attack the result and forget what the attack finds "
                                           f"({ROBUST_ROUNDS} rounds, slower; runs without the baseline)")
                target = gr.Radio([("a random face of nobody", "nobody"), ("the paper's UFO point", "ufo")],
                                  value=Config.default("target"), label="Target face", elem_id="id-target")
                distance = config_slider(Config, "d", "UFO distance d",
                                         info="for the UFO target: in units of a typical face's distance from the average face")
                with_baseline = gr.Checkbox(PRESETS["quick"].options["compare_baseline"], label="Also run the paper's baseline (target = average face)")
                seed = checked_by_handler(gr.Number(Config.default("seed"), label="Seed", precision=0, minimum=0))
            with gr.Accordion("How it works", open=False):
                gr.Markdown(HOW)
            with gr.Accordion("What do these mean?", open=False):
                gr.Markdown(GLOSSARY)
        with gr.Column(scale=2):
            verdict = gr.Markdown(elem_id="id-verdict")
            gr.Markdown("#### Photo → inversion → target face")
            pipeline = gr.Image(type="pil", interactive=False, buttons=[], show_label=False, elem_id="id-pipeline")
            gr.Markdown("#### The person's images before and after — columns: the photo, then its other views")
            views = gr.Image(type="pil", interactive=False, buttons=[], show_label=False, elem_id="id-views")
            gr.Markdown("#### Everyone else: random faces before and after (fixed seeds)")
            preservation = gr.Image(type="pil", interactive=False, buttons=[], show_label=False, elem_id="id-preservation")
            attack_title = gr.Markdown(elem_id="id-attack-title")
            attack_rows = gr.Image(type="pil", interactive=False, buttons=[], show_label=False, elem_id="id-attack", visible=False)
            metrics = gr.Dataframe(headers=["metric (dlib)", "GUIDE", "baseline"], interactive=False, wrap=True, max_height=1000, elem_id="id-metrics")
            downloads = gr.File(label="Downloads: the unlearned generator (GUIDE) and its report", file_count="multiple",
                                interactive=False)
    ui = dict(photo=photo, preview=preview, status=status, steps=steps, with_baseline=with_baseline, with_attack=with_attack, robust=robust,
              pipeline=pipeline, views=views, preservation=preservation, metrics=metrics, downloads=downloads,
              verdict=verdict, attack_title=attack_title, attack_rows=attack_rows)
    photo.change(preview_face, [photo], wired(ui, preview_face), api_name="identity_preview")
    preset.change(preset_settings, [preset], wired(ui, preset_settings), api_visibility=PRIVATE, show_progress="hidden")
    for button in example_buttons:
        button.click(show_example, [button], wired(ui, show_example), api_visibility=PRIVATE, show_progress="hidden")
    SLOT.wire(run_btn, stop_btn, unlearn, [photo, others, steps, distance, with_baseline, seed, preset, with_attack, target, robust],
              wired(ui, unlearn), status, api_name="identity_unlearn")


@user_errors(outputs=("steps", "with_baseline", "with_attack", "robust"))
def preset_settings(name: str):
    """Set the settings to the chosen preset's."""
    chosen = chosen_preset(PRESETS, name)
    return {"steps": gr.Slider(value=chosen.settings["steps"]), "with_baseline": gr.Checkbox(value=chosen.options["compare_baseline"]),
            "with_attack": gr.Checkbox(value=chosen.options["attack"]),
            "robust": gr.Checkbox(value=chosen.settings.get("robust_rounds", 0) > 0)}


@user_errors(outputs=("preview", "status"), status="status")
def preview_face(photo: Optional[str]):
    """Show the aligned face as soon as a photo arrives (and say what was adjusted)."""
    if not photo:
        return {"preview": None, "status": ""}
    face = align_face(photo)
    notes = "; ".join(face.notes)
    return {"preview": labelled_rows({"aligned": face.image[None]}, tile=160, label_width=0),
            "status": f"Face found (MTCNN {face.probability:.2f})." + (f" Note: {notes}." if notes else "")}


RESULT_OUTPUTS = ("pipeline", "views", "preservation", "metrics", "downloads", "status", "verdict", "attack_title",
                  "attack_rows")


@user_errors(outputs=(*RESULT_OUTPUTS, "photo"), status="status")
def show_example(title: str):
    """A precomputed example: its result at once, and its photo in the upload box (ready to run live)."""
    result, extra = precomputed_example("identity", title)
    return {**_outputs(result, example_status("Unlearn this person")), "verdict": example_verdict(result, extra),
            "photo": str(EXAMPLES_ROOT / "identity" / extra["slug"] / "photo.png")}


def _outputs(result: RunResult, status: str) -> dict[str, Any]:
    """The three galleries, the table, the downloads, the status, the verdict and the recovery attack's rows."""
    names = result.columns
    widths = ["56%"] + [f"{44 // len(names)}%"] * len(names)  # keep the baseline column on screen
    g = result.galleries
    return {"pipeline": labelled_rows(g["photo · inversion · target"], tile=128, label_width=250),
            "views": labelled_rows(g["the person's images"], tile=80, label_width=150),
            "preservation": labelled_rows(g["random faces"], tile=80, label_width=150),
            "metrics": result_table(result, "metric (dlib)", column_widths=widths),
            "downloads": [str(f) for f in result.files], "status": status, "verdict": verdict_markdown(result.verdict),
            **_attack_outputs(result)}


def _attack_outputs(result: RunResult) -> dict[str, Any]:
    """The recovery attack's heading and rows (nothing when it did not run)."""
    if "recovery attack" not in result.galleries:
        return {"attack_title": "", "attack_rows": gr.Image(value=None, visible=False)}
    title = ("#### Does the person come back? The photo and its views inverted again — into the original generator, "
             "then into the unlearned one")
    return {"attack_title": title,
            "attack_rows": gr.Image(value=labelled_rows(result.galleries["recovery attack"], tile=80, label_width=170),
                                    visible=True)}


@user_errors(outputs=RESULT_OUTPUTS, status="status")
def unlearn(photo: Optional[str], others: Optional[list[str]], steps: Any, distance: Any, with_baseline: bool, seed: Any,
            preset: str = "quick", with_attack: bool = False, target: str = Config.default("target"), robust: bool = False,
            request: gr.Request = None, progress=gr.Progress()):
    """Run GUIDE (and the baseline) on the photo under a preset (its learning rate, inversion and evaluation sizes;
    the steps, d, target, robust mode, seed and baseline as set); show the galleries, the metrics and downloads."""
    if not photo:
        raise InputError("upload a photo of one person first (or click an example)")
    chosen = chosen_preset(PRESETS, preset)
    config = Config.from_inputs(**{**chosen.settings, "steps": steps, "d": distance, "seed": seed, "target": target,
                                   "robust_rounds": ROBUST_ROUNDS if robust is True else 0})
    with_baseline = bool(with_baseline)
    estimate = config.cpu_seconds(with_baseline=with_baseline, preset=chosen, with_attack=bool(with_attack))
    check_cpu_budget(estimate, gpu_available())
    load_photo(photo)  # a file that is no photo is refused before the run queues (faces are found in the run)
    result = SLOT.run(request, progress, guide.unlearn_identity, GeneratorRef(DEFAULT_FACE_GENERATOR), photo, config,
                      extra_photos=list(others or []), **{**chosen.options, "compare_baseline": with_baseline, "attack": bool(with_attack)},
                      estimate_s=estimate)
    e, face = result.report["evaluation"], result.details["face"]
    notes = "; ".join(face.notes)
    done = (f"Done: {result.columns[0]} in {result.report['train_s']:.1f} s of fine-tuning — ID distance "
            f"{e['id_source_before_vs_after']} (> 0.6 = forgotten), random faces kept: {e['preservation_same_person_rate']:.0%}."
            + (f" Note: {notes}." if notes else ""))
    return _outputs(result, done)
