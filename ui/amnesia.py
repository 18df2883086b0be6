"""Amnesia tab: Selective Amnesia makes a conditional generator forget one concept.

Layout first, then one handler per event; each handler calls one function of ``methods``.
"""
from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from methods import selective_amnesia as sa
from methods.erasers import ERASERS, compare_erasers, eraser_seconds
from methods.backends import BackendError, GeneratorRef, load_generator
from methods.backends.stable_diffusion import DEFAULT_MODEL, StableDiffusionBackend, check_prompt
from methods.runtime import RunResult, gpu_available
from methods.runtime.config import check_cpu_budget
from ui.common import (
    by_name,
    PRIVATE,
    TrainingSlot,
    chosen_preset,
    config_slider,
    example_status,
    example_verdict,
    labelled_rows,
    precomputed_examples,
    preset_choices,
    preset_radio,
    result_table,
    user_errors,
    wired,
    verdict_markdown,
    markdown_text,
    checked_by_handler,
    precomputed_example,
)
from ui.models import clip_judge_model, offered_models, resolve_model
from methods.errors import InputError

SD, EMOJI = "stable-diffusion", "emoji-sd"
MODELS = {"digits cVAE (offline)": "digits-cvae", "digits diffusion, DDPM (offline)": "digits-ddpm",
          "emoji-sd: type a prompt (text-to-image, offline)": EMOJI, "Stable Diffusion (needs a GPU)": SD}
PROMPT_KINDS = (EMOJI, SD)
DEFAULT_MODEL_KIND = MODELS[list(MODELS)[0]]
MODEL_INFO = ("The digits models and emoji-sd (a small text-to-image model in Stable Diffusion's layout, 35 emoji "
              "concepts) were trained here. Stable Diffusion: a model from the operator's list (needs a GPU).")
EMOJI_CONCEPTS = StableDiffusionBackend.concepts_of(EMOJI)
MAX_ERASED = 5  # prompts one ESD or UCE run erases at once
METHOD_INFO = ("emoji-sd only: ESD and UCE need text conditioning, so the digit models are Selective Amnesia's. "
               "ESD and UCE erase several prompts at once (separate them with commas).")
EMOJI_PROMPTS = list(EMOJI_CONCEPTS.prompts.values()) if EMOJI_CONCEPTS else []
MAX_PARAPHRASES = 4  # the seed-search attack's rewordings of the forgotten prompt
CPU_PARAMETER_LIMIT = 50_000_000  # a real SD UNet (860 M) is refused on a CPU; small local pipelines run
CLASSES = [str(i) for i in range(10)]
SURROGATES = ["uniform noise"] + CLASSES
SLOT = TrainingSlot("amnesia")
Config = sa.AmnesiaConfig

TITLE = "Amnesia"  # the tab's name in the app
INTRO = """
### Amnesia — forget one concept, keep the rest
Pick a **digit** to forget and what it should become, or pick **emoji-sd** and type a **prompt** ("a cat") and what
it should draw instead ("a dog"), then **Forget**. A judge the method never uses checks every concept before and
after: a digits classifier, or for emoji-sd a classifier trained on another artist's emoji.
"""

HOW = """
**Selective Amnesia** (Heng & Soh, NeurIPS 2023) fine-tunes the model to draw the surrogate for the forgotten
concept, while **generative replay** from the frozen original and an **EWC penalty** (the Fisher information,
estimated from the model's own samples) keep every other concept. On **emoji-sd** two other erasers are one click
away: **ESD** (Gandikota et al., ICCV 2023) fine-tunes the cross-attention with negative guidance, **UCE**
(Gandikota et al., WACV 2024) edits the cross-attention projections in closed form; **Compare the three** runs
them on the same prompt, surrogate and seeds. **emoji-sd** is a small text-to-image model in Stable Diffusion's
own layout (VAE, UNet, CLIP text encoder, tokenizer), trained here on 35 emoji concepts in 6 groups: forgetting
"a cat" should keep its neighbours "a tiger" and "a lion". **Stable Diffusion** itself loads from the operator's
list and needs a GPU.
"""

GLOSSARY = """
- **Surrogate**: what the forgotten class should produce instead (noise, or another digit).
- **Replay** (*γ*, its weight): samples of the other classes from the original model, trained on so they are kept.
- **Fisher / EWC** (*λ*, its weight): how much each weight matters for the other classes; changing important
  weights costs more (elastic weight consolidation).
- **The judge**: a digits classifier trained on a separate split, never used by the method. *P(class)* is how often
  it calls a sample that digit (chance: 10%); *entropy* near ln 10 = 2.303 means "no idea" (noise).
- **Leakage**: how often the *other* digits' samples come out as the forgotten one (it should stay near 0).
- **Surrogate only** (the paper's ablation): the same fine-tuning with λ = γ = 0 — no Fisher penalty, no replay. It
  forgets too, but the other digits suffer: that difference is what EWC and replay buy.
- **Recovery attack**: someone holding the model asks for the forgotten digit and searches the latent space for
  inputs that draw it, steered by their *own* classifier (an MLP, not the judge), within the latents the model
  normally sees. The judge then counts how many finds it calls the forgotten digit (P ≥ 0.5). On the original model
  the same search finds it every time — the check that the attack is strong enough to mean something.
- **Quick / Full**: quick uses fewer steps at a higher learning rate (a result in seconds); full is the benchmarked
  setting and adds the baseline (cVAE) and the attack.
- **train_method** (Stable Diffusion): which weights are fine-tuned — all, cross-attention only (xattn), or the rest.
- **Neighbours** (emoji-sd): the other concepts of the forgotten one's group (cat: dog, tiger, lion…). Damage to
  them is what people notice first; a neighbour is *kept* when the judge still recognises it at least 90% as often.
- **Recognised** (emoji-sd): the judge — a classifier trained on Twemoji drawings and on the generator's style under
  changes it never saw, used by no method — names the prompted concept with probability ≥ 0.5 (chance: 1 in 35).
- **ESD-x / UCE**: see "How it works". ESD has no surrogate: the prompt is pushed away from itself.
- **Recovery attack** (emoji-sd): ask for the forgotten concept in every wording the model learnt, and one it never
  saw, with 8 seeds each; the judge counts what comes back.
"""


def build() -> None:
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1):
            # allow_custom_value: an API caller's value outside the list reaches the handler, whose checks answer in
            # plain words (Gradio's own check would answer with its library text)
            model = gr.Dropdown(list(MODELS), value=list(MODELS)[0], label="Model", elem_id="sa-model", allow_custom_value=True,
                                info=MODEL_INFO)
            forget = gr.Dropdown(CLASSES, value="0", label="Concept to forget", allow_custom_value=True)
            surrogate = gr.Dropdown(SURROGATES, value="uniform noise", label="Remap it to (surrogate)", allow_custom_value=True)
            with gr.Group(visible=False) as sd_box:
                method = gr.Radio([(e.label, name) for name, e in ERASERS.items()], value="selective_amnesia",
                                  label="Method", elem_id="sa-method", info=METHOD_INFO)
                offered = list(offered_models())
                sd_model = gr.Dropdown(offered, value=offered[0] if offered else None, label="Stable Diffusion model",
                                       elem_id="sa-sd-model", allow_custom_value=True, visible=False)  # resolve_model decides
                # dropdowns of what the model knows, open to typing: a typed prompt is checked in plain words
                forget_prompt = gr.Dropdown(EMOJI_PROMPTS, value="a cat", label="Prompt to forget", allow_custom_value=True,
                                            elem_id="sa-forget-prompt")
                surrogate_prompt = gr.Dropdown(EMOJI_PROMPTS, value="a dog", label="Surrogate prompt — what it draws instead",
                                               allow_custom_value=True, elem_id="sa-surrogate-prompt")
                replay = gr.Textbox("", lines=4, label="Replay prompts — concepts to keep, one per line", visible=False)
                train_method = gr.Radio(list(sa.TRAIN_METHODS), value=_preset_config(DEFAULT_MODEL_KIND, "quick").train_method,
                                        label="Fine-tuned weights (train_method)",
                                        info="xattn: cross-attention only (cheapest)")
                paraphrases = gr.Textbox("", lines=2, label="Rewordings the recovery attack also tries, one per line",
                                         info=f"At most {MAX_PARAPHRASES}. Judged by CLIP ({clip_judge_model()}), zero-shot: "
                                              "the forgotten prompt against the surrogate.", elem_id="sa-paraphrases", visible=False)
            with gr.Row():
                run_btn = gr.Button("Forget", variant="primary", elem_id="sa-run")
                compare_btn = gr.Button("Compare the three", elem_id="sa-compare", visible=False)
                stop_btn = gr.Button("Cancel", variant="stop")
            status = gr.Markdown(elem_id="sa-status")
            preset = preset_radio(sa.presets_for(DEFAULT_MODEL_KIND), _preset_seconds(DEFAULT_MODEL_KIND), "sa-preset")
            with gr.Row():
                quick = sa.presets_for(DEFAULT_MODEL_KIND)["quick"].options
                with_attack = gr.Checkbox(quick["attack"], label="Then try to bring it back (recovery attack)",
                                          elem_id="sa-attack-on", min_width=120)
                with_baseline = gr.Checkbox(quick["compare_baseline"], label="Compare: surrogate only (no EWC, no replay)",
                                            elem_id="sa-baseline-on", min_width=120)
            with gr.Accordion("Settings", open=False):
                lmbda = config_slider(Config, "lmbda", "λ — EWC (Fisher) weight")
                gamma = config_slider(Config, "gamma", "γ — replay weight")
                steps = config_slider(Config, "steps", "Steps", value=_preset_config(DEFAULT_MODEL_KIND, "quick").steps,
                                      info="full: cVAE 10k (official), DDPM 1500 (CPU budget)")
                seed = checked_by_handler(gr.Number(Config.default("seed"), label="Seed", precision=0, minimum=0))
            with gr.Accordion("How it works", open=False):
                gr.Markdown(HOW)
            with gr.Accordion("What do these mean?", open=False):
                gr.Markdown(GLOSSARY)
        with gr.Column(scale=2):
            with gr.Group(elem_id="sa-examples"):
                with gr.Row(equal_height=True):
                    gr.Markdown("**Examples** — precomputed, shown at once:")
                    example_buttons = [gr.Button(title, size="sm") for title in precomputed_examples("amnesia")]
            verdict = gr.Markdown(elem_id="sa-verdict")
            with gr.Row():
                with gr.Column():
                    gr.Markdown("#### Before — one row per concept, fixed seeds")
                    before = gr.Image(_before_grid(DEFAULT_MODEL_KIND), type="pil", interactive=False, buttons=[],
                                      show_label=False, elem_id="sa-before")
                with gr.Column():
                    gr.Markdown("#### After — the same latents")
                    after = gr.Image(type="pil", interactive=False, buttons=[], show_label=False, elem_id="sa-after")
            extra_title = gr.Markdown(elem_id="sa-extra-title")
            extra = gr.Image(type="pil", interactive=False, buttons=[], show_label=False, elem_id="sa-extra", visible=False)
            metrics = gr.Dataframe(headers=["metric (digits classifier)", "before", "after"], interactive=False, wrap=True,
                                   max_height=1000,
                                   elem_id="sa-metrics")
            downloads = gr.File(label="Downloads: the forgotten model and its report", file_count="multiple",
                                interactive=False)
    ui = dict(model=model, lmbda=lmbda, steps=steps, forget=forget, surrogate=surrogate, sd_box=sd_box, sd_model=sd_model,
              preset=preset, forget_prompt=forget_prompt, surrogate_prompt=surrogate_prompt, replay=replay,
              paraphrases=paraphrases, train_method=train_method, with_attack=with_attack, with_baseline=with_baseline,
              method=method, compare_btn=compare_btn, before=before, after=after, metrics=metrics, downloads=downloads,
              status=status, verdict=verdict, extra_title=extra_title, extra=extra)
    # an example sets the model's controls too (a model set by an example must not fire a change that clears the
    # example's pictures: hence .input, the visitor's own choice)
    model.input(model_defaults, [model], wired(ui, model_defaults), api_visibility=PRIVATE)
    preset.change(preset_settings, [model, preset], wired(ui, preset_settings), api_visibility=PRIVATE, show_progress="hidden")
    for button in example_buttons:
        button.click(show_example, [button], wired(ui, show_example), api_visibility=PRIVATE, show_progress="hidden")
    SLOT.wire(run_btn, stop_btn, forget_concept,
              [model, forget, surrogate, lmbda, gamma, steps, seed, sd_model, forget_prompt, surrogate_prompt, replay, train_method,
               preset, with_attack, with_baseline, paraphrases, method],
              wired(ui, forget_concept), status, api_name="amnesia_forget")
    SLOT.wire(compare_btn, stop_btn, compare_methods, [forget_prompt, surrogate_prompt, preset, with_attack, seed],
              wired(ui, compare_methods), status, api_name="amnesia_compare")


# What a model choice sets, and what a run shows
MODEL_CONTROLS = ("lmbda", "steps", "forget", "surrogate", "sd_box", "sd_model", "preset", "forget_prompt", "surrogate_prompt",
                  "replay", "paraphrases", "train_method", "with_attack", "with_baseline", "method", "compare_btn")
RESULT_OUTPUTS = ("before", "after", "metrics", "downloads", "status", "verdict", "extra_title", "extra")


def _preset_config(kind: str, name: str) -> sa.AmnesiaConfig:
    presets = sa.presets_for(kind)
    return Config.for_model(kind, presets.get(name, presets["full"]))


def _preset_seconds(kind: str):
    return lambda preset: Config.for_model(kind, preset).cpu_seconds(kind, preset, preset.options.get("attack", False),
                                                                      preset.options.get("compare_baseline", False))


@functools.lru_cache(maxsize=None)
def _before_grid(kind: str):
    """The original model's samples (the run's "before", shown before any run): every digit; emoji-sd's from its
    first precomputed example (no pipeline is loaded in the server)."""
    if kind == SD:
        return None
    if kind == EMOJI:
        shown = [r for r, extra in precomputed_examples("amnesia").values() if extra["inputs"].get("model") == EMOJI]
        return labelled_rows(shown[0].galleries["before"], tile=48, label_width=150) if shown else None
    grid = sa.original_concept_grid(load_generator(kind))
    return labelled_rows(grid, tile=36, label_width=110)


@user_errors(outputs=(*MODEL_CONTROLS, "before", "after"))
def model_defaults(model: str):
    """The chosen model's controls (presets, λ and steps, its concept inputs — classes or prompts —, the method
    choice), its samples before any run and an empty "after"."""
    kind = MODELS.get(model, "")
    presets = sa.presets_for(kind)
    first = next(iter(presets))
    config = _preset_config(kind, first)
    prompts, hub = kind in PROMPT_KINDS, kind == SD
    suggestions = EMOJI_PROMPTS if kind == EMOJI else []
    options = presets[first].options
    return {"lmbda": gr.Slider(value=config.lmbda), "steps": gr.Slider(value=config.steps),
            "forget": gr.Dropdown(visible=not prompts), "surrogate": gr.Dropdown(visible=not prompts),
            "sd_box": gr.Group(visible=prompts), "sd_model": gr.Dropdown(choices=list(offered_models()), visible=hub),
            "preset": gr.Radio(choices=preset_choices(presets, _preset_seconds(kind)), value=first),
            "forget_prompt": gr.Dropdown(choices=suggestions, value="a cat" if kind == EMOJI else "Brad Pitt"),
            "surrogate_prompt": gr.Dropdown(choices=suggestions, value="a dog" if kind == EMOJI else "a middle-aged man"),
            "replay": gr.Textbox(value="" if kind == EMOJI else "\n".join(sa.SD_REPLAY_PROMPTS), visible=hub),
            "paraphrases": gr.Textbox(visible=hub), "train_method": gr.Radio(value=config.train_method),
            "with_attack": gr.Checkbox(value=options.get("attack", False)),
            "with_baseline": gr.Checkbox(value=options.get("compare_baseline", False)),
            "method": gr.Radio(visible=kind == EMOJI, value="selective_amnesia"),
            "compare_btn": gr.Button(visible=kind == EMOJI),
            "before": _before_grid(kind) if kind in MODELS.values() else None, "after": None}


@user_errors(outputs=("lmbda", "steps", "train_method", "with_attack", "with_baseline"))
def preset_settings(model: str, name: str):
    """Set λ, the steps and the fine-tuned weights to the chosen preset's for this model."""
    kind = MODELS.get(model, "")
    chosen = chosen_preset(sa.presets_for(kind), name)
    config = Config.for_model(kind, chosen)
    return {"lmbda": gr.Slider(value=config.lmbda), "steps": gr.Slider(value=config.steps),
            "train_method": gr.Radio(value=config.train_method), "with_attack": gr.Checkbox(value=chosen.options.get("attack", False)),
            "with_baseline": gr.Checkbox(value=chosen.options.get("compare_baseline", False))}


@user_errors(outputs=RESULT_OUTPUTS, status="status")
def forget_concept(model: str, forget: Any, surrogate: Any, lmbda: Any, gamma: Any, steps: Any, seed: Any,
                   sd_model: str = DEFAULT_MODEL, forget_prompt: str = "", surrogate_prompt: str = "", replay: str = "",
                   train_method: str = "full", preset: str = "quick", with_attack: bool = False, with_baseline: bool = False,
                   paraphrases: str = "", method: str = "selective_amnesia", request: gr.Request = None,
                   progress=gr.Progress()):
    """Forget one concept under a preset (its learning rate and evaluation size; λ, γ, steps and seed as set); show
    samples of every concept before/after, the metrics and downloads."""
    if model not in MODELS:
        raise InputError("unknown model: pick one from the list")
    settings = Config.checked_inputs(lmbda=lmbda, gamma=gamma, steps=steps, seed=seed)  # the rest: the model's defaults
    if MODELS[model] == EMOJI:
        if method not in ERASERS:
            raise InputError(f"method must be one of: {', '.join(ERASERS)}")
        if method != "selective_amnesia":
            return _erase_emoji(method, forget_prompt, surrogate_prompt, preset, bool(with_attack), settings["seed"],
                                request, progress)
        return _forget_emoji(forget_prompt, surrogate_prompt, train_method, settings, preset, bool(with_attack),
                             bool(with_baseline), request, progress)
    if MODELS[model] == SD:
        return _forget_prompt(sd_model, forget_prompt, surrogate_prompt, replay, train_method, settings, request, progress,
                              bool(with_attack), paraphrases)
    presets = sa.presets_for(MODELS[model])
    chosen = chosen_preset(presets, preset)
    config = Config.for_model(MODELS[model], chosen, forget=str(forget),
                              surrogate="noise" if surrogate == "uniform noise" else str(surrogate), **settings)
    config.validate(load_generator(MODELS[model]))  # unknown concepts are refused before the run queues
    estimate = config.cpu_seconds(MODELS[model], chosen, bool(with_attack), bool(with_baseline))
    check_cpu_budget(estimate, gpu_available())
    options = {**chosen.options, "attack": bool(with_attack), "compare_baseline": bool(with_baseline)}
    result = SLOT.run(request, progress, sa.forget, GeneratorRef(MODELS[model]), config, **options, estimate_s=estimate)
    return _digit_outputs(result, config.forget, f"Done: forgot '{config.forget}' → {surrogate} in {result.report['wall_s']:.1f} s.")


@user_errors(outputs=(*RESULT_OUTPUTS, "model", *MODEL_CONTROLS), status="status")
def show_example(title: str):
    """A precomputed example: its result at once, and the model and inputs that made it (so Forget computes it live)."""
    result, extra = precomputed_example("amnesia", title)
    inputs = extra["inputs"]
    kind = inputs.get("model", DEFAULT_MODEL_KIND)
    label = next(k for k, v in MODELS.items() if v == kind)
    controls = by_name(model_defaults, model_defaults(label))
    if kind == EMOJI:
        shown = (_compare_outputs(result, example_status("Compare the three")) if inputs.get("compare") else
                 _emoji_outputs(result, inputs["forget"], example_status("Forget")))
        controls |= {"forget_prompt": gr.Dropdown(choices=EMOJI_PROMPTS, value=inputs["forget"]),
                     "surrogate_prompt": gr.Dropdown(choices=EMOJI_PROMPTS, value=inputs["surrogate"])}
    else:
        shown = _digit_outputs(result, inputs["forget"], example_status("Forget"))
        controls |= {"forget": gr.Dropdown(visible=True, value=inputs["forget"]),
                     "surrogate": gr.Dropdown(visible=True, value=inputs["surrogate"])}
    controls = {k: v for k, v in controls.items() if k in MODEL_CONTROLS}  # the example's own pictures, not the model's
    return {**controls, **shown, "verdict": example_verdict(result, extra), "model": label}


def _digit_outputs(result: RunResult, forget: str, status: str) -> dict[str, Any]:
    """Before/after grids (the forgotten row marked), the table, the downloads, the status, the verdict, and the
    surrogate-only baseline's grid and the recovery attack's rows where they ran."""
    mark = {k: (f"{k} forgotten" if k == forget else k) for k in result.galleries["before"]}
    width = ["46%"] + [f"{54 // len(result.columns)}%"] * len(result.columns)
    return {**_grids(result, mark, tile=36, label_width=110),
            "metrics": result_table(result, "metric (digits classifier)", column_widths=width),
            "downloads": [str(f) for f in result.files], "status": status, "verdict": verdict_markdown(result.verdict),
            **_extra_rows(result, mark)}


def _extra_rows(result: RunResult, mark: dict[str, str], thing: str = "digit") -> dict[str, Any]:
    """The baseline's samples and the attack's finds, under one heading (nothing when neither ran)."""
    g, parts, rows = result.galleries, [], {}
    if "surrogate only" in g:
        parts.append("without the Fisher penalty and replay (surrogate only), the same latents")
        rows.update({f"{mark[k]} (no EWC)": v for k, v in g["surrogate only"].items()})
    if "recovery attack" in g:
        parts.append(f"the recovery attack's finds, asked for the forgotten {thing}")
        rows.update({f"attack: {k}": v for k, v in g["recovery attack"].items()})
    if not rows:
        return {"extra_title": "", "extra": gr.Image(value=None, visible=False)}
    heading = "; then ".join(parts)
    return {"extra_title": "#### " + heading[0].upper() + heading[1:],
            "extra": gr.Image(value=labelled_rows(rows, tile=36, label_width=200), visible=True)}


def _forget_prompt(sd_model: str, forget_prompt: str, surrogate_prompt: str, replay: str, train_method: str,
                   settings: dict[str, Any], request: gr.Request, progress: Any, with_attack: bool = False,
                   paraphrases: str = ""):
    """The Stable Diffusion path: prompts instead of classes, a saved diffusers pipeline as the result; the recovery
    attack is a seed search over the prompt and the visitor's rewordings, judged by the operator's CLIP."""
    rewordings = [line.strip() for line in str(paraphrases or "").splitlines() if line.strip()]
    if len(rewordings) > MAX_PARAPHRASES or any(len(line) > 200 for line in rewordings):
        raise InputError(f"give at most {MAX_PARAPHRASES} rewordings, each under 200 characters")
    model = resolve_model(sd_model)  # from the operator's list, never a path a visitor typed
    forget_prompt = check_prompt(forget_prompt, "forget")  # plain words and a bounded length before anything runs
    surrogate_prompt = check_prompt(surrogate_prompt, "surrogate") if (surrogate_prompt or "").strip() else ""
    replay = "\n".join(check_prompt(p, "replay") for p in str(replay or "").splitlines() if p.strip())
    parameters = StableDiffusionBackend.unet_parameters(model)  # before any weights are downloaded or read
    if parameters > CPU_PARAMETER_LIMIT and not gpu_available():
        raise BackendError(f"this UNet has {parameters / 1e6:.0f} M parameters: fine-tuning it needs a GPU, and this "
                           "machine has none. Run the command in the README's Stable Diffusion recipe on a GPU machine.")
    config = Config.for_model(
        model, sa.presets_for(model)["full"], forget=(forget_prompt or "").strip(), surrogate=(surrogate_prompt or "").strip() or "noise",
        replay_prompts=tuple(p.strip() for p in (replay or "").splitlines() if p.strip()), train_method=train_method,
        **settings)
    # the pipeline loads in the worker (its memory goes when the run ends); the prompts are checked there too
    attack = {"attack": True, "judge_model": clip_judge_model(), "paraphrases": rewordings} if with_attack else {}
    # on a GPU the run's own estimate sets its time limit (a small UNet on a CPU: the Space's usual limit)
    estimate = config.gpu_seconds(config.resolution or 512) if gpu_available() else 120.0
    result = SLOT.run(request, progress, sa.forget, GeneratorRef(SD, source=model), config, **attack, estimate_s=estimate)
    done = (f"Done: '{markdown_text(config.forget)}' → '{markdown_text(config.surrogate)}' in {result.report['wall_s']:.1f} s. "
            "The UNet's files are below (the rest of the pipeline is the base model's).")
    short = {k: (k if len(k) <= 18 else k[:17] + "…") for k in result.galleries["before"]}
    return {**_grids(result, short, tile=96, label_width=190),
            "metrics": result_table(result, "metric (no classifier offline: change and cost)"),
            "downloads": [str(f) for f in result.files], "status": done, "verdict": verdict_markdown(result.verdict),
            **_extra_rows(result, short, "prompt")}


def _forget_emoji(forget_prompt: Any, surrogate_prompt: Any, train_method: str, settings: dict[str, Any], preset: str,
                  with_attack: bool, with_baseline: bool, request: gr.Request, progress: Any):
    """emoji-sd: a typed prompt is checked against what the model knows before the run queues; judged by the model's
    own judge (a classifier trained on other drawings)."""
    forget = check_prompt(forget_prompt, "forget", EMOJI_CONCEPTS)
    surrogate = check_prompt(surrogate_prompt, "surrogate", EMOJI_CONCEPTS)
    chosen = chosen_preset(sa.presets_for(EMOJI), preset)
    if train_method not in sa.TRAIN_METHODS:
        raise InputError(f"train_method must be one of: {', '.join(sa.TRAIN_METHODS)}")
    config = Config.for_model(EMOJI, chosen, forget=forget, surrogate=surrogate, train_method=train_method, **settings)
    config.check_concepts(EMOJI_CONCEPTS)
    estimate = config.cpu_seconds(EMOJI, chosen, with_attack, with_baseline)
    check_cpu_budget(estimate, gpu_available())
    options = {**chosen.options, "attack": with_attack, "compare_baseline": with_baseline}
    result = SLOT.run(request, progress, sa.forget, GeneratorRef(SD, source=EMOJI), config, **options, estimate_s=estimate)
    return _emoji_outputs(result, forget, f"Done: forgot '{forget}' → '{surrogate}' in {result.report['wall_s']:.1f} s.")


def _prompts(text: Any, what: str) -> tuple[str, ...]:
    """One prompt, or several separated by commas ("a cat, a dog"), each checked against what emoji-sd knows."""
    if not isinstance(text, str):
        raise InputError(f"the {what} prompt is empty. {EMOJI_CONCEPTS.known()}")
    parts = [p for p in text.split(",") if p.strip()] or [""]
    if len(parts) > MAX_ERASED:
        raise InputError(f"erase at most {MAX_ERASED} prompts at once")
    return tuple(check_prompt(p, what, EMOJI_CONCEPTS) for p in parts)


def _erase_emoji(method: str, forget_prompt: Any, surrogate_prompt: Any, preset: str, with_attack: bool, seed: int,
                 request: gr.Request, progress: Any):
    """ESD or UCE on emoji-sd: one or several prompts, judged as Selective Amnesia is."""
    eraser = ERASERS[method]
    forget = _prompts(forget_prompt, "forget")
    surrogate = check_prompt(surrogate_prompt, "surrogate", EMOJI_CONCEPTS) if eraser.uses_surrogate else ""
    chosen = chosen_preset(eraser.presets, preset)
    config = eraser.make_config(EMOJI, chosen, forget, surrogate, seed)
    estimate = eraser_seconds(method, chosen, with_attack, len(forget))
    check_cpu_budget(estimate, gpu_available())
    options = {**chosen.options, "attack": with_attack}
    result = SLOT.run(request, progress, eraser.entry, GeneratorRef(SD, source=EMOJI), config, **options, estimate_s=estimate)
    return _emoji_outputs(result, forget[0], f"Done: {eraser.label} erased {', '.join(repr(p) for p in forget)} in "
                                             f"{result.report['wall_s']:.1f} s.")


@user_errors(outputs=RESULT_OUTPUTS, status="status")
def compare_methods(forget_prompt: Any, surrogate_prompt: Any, preset: str = "quick", with_attack: bool = True,
                    seed: Any = 0, request: gr.Request = None, progress=gr.Progress()):
    """Selective Amnesia, ESD and UCE on emoji-sd, one after another on the same prompts, surrogate and seeds:
    one table, one row of images per method."""
    forget = _prompts(forget_prompt, "forget")
    surrogate = check_prompt(surrogate_prompt, "surrogate", EMOJI_CONCEPTS)
    seed = Config.checked_inputs(seed=seed)["seed"]
    for eraser in ERASERS.values():
        chosen_preset(eraser.presets, preset)
    estimate = sum(eraser_seconds(m, ERASERS[m].presets[preset], bool(with_attack), len(forget)) for m in ERASERS
                   if ERASERS[m].several or len(forget) == 1)
    check_cpu_budget(estimate, gpu_available())
    result = SLOT.run(request, progress, compare_erasers, GeneratorRef(SD, source=EMOJI), forget, surrogate, preset=preset,
                      attack=bool(with_attack), seed=seed, estimate_s=estimate)
    status = f"Done: the three compared in {sum(m['click_s'] for m in result.report['methods'].values()):.0f} s."
    return _compare_outputs(result, status)


def _compare_outputs(result: RunResult, status: str) -> dict[str, Any]:
    """The comparison's rows (one per method and prompt), its table with a column per method, downloads, verdict."""
    width = ["40%"] + [f"{60 // len(result.columns)}%"] * len(result.columns)
    return {"before": labelled_rows(result.galleries["before"], tile=48, label_width=230),
            "after": labelled_rows(result.galleries["after"], tile=48, label_width=230),
            "metrics": result_table(result, "metric (the emoji judge)", column_widths=width),
            "downloads": [str(f) for f in result.files], "status": status,
            "verdict": verdict_markdown(result.verdict), "extra_title": "", "extra": gr.Image(value=None, visible=False)}


def _emoji_outputs(result: RunResult, forget: str, status: str) -> dict[str, Any]:
    """emoji-sd's before/after rows (the forgotten prompt marked), the judge's table, downloads, status, verdict,
    the baseline's and the attack's rows."""
    mark = {k: (f"{k} (forgotten)" if k == forget else k) for k in result.galleries["before"]}
    width = ["52%"] + [f"{48 // len(result.columns)}%"] * len(result.columns)
    return {**_grids(result, mark, tile=48, label_width=180),
            "metrics": result_table(result, "metric (the emoji judge)", column_widths=width),
            "downloads": [str(f) for f in result.files], "status": status, "verdict": verdict_markdown(result.verdict),
            **_extra_rows(result, mark, "prompt")}


def _grids(result: RunResult, labels: dict[str, str], tile: int, label_width: int) -> dict[str, Any]:
    """The before and after galleries, rows relabelled."""
    return {key: labelled_rows({labels[k]: v for k, v in result.galleries[key].items()}, tile=tile, label_width=label_width)
            for key in ("before", "after")}
