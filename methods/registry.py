"""Every method of the suite in one table, read by the app (its tabs), the worker (what a stand-by loads), the
erasers' comparison and the examples script (``scripts/precompute_examples.py``); the CLIs and benchmarks call the
entries it names.

A new method is a package under ``methods/``, one :class:`Method` in :data:`METHODS` and one tab (``ui/<tab>.py``
with ``TITLE`` and ``build()``; several methods may share a tab). References are ``"module:attribute"`` strings, so
reading this table imports nothing heavy; :meth:`Method.load` resolves one.

The run contract: ``entry(backend, <inputs>, config, out_dir=None, progress=None, cancel=None, **preset.options)``
returns a :class:`methods.runtime.RunResult` (verdict, metric rows, galleries, report, files); the tab, the CLI
(``python -m <package>``) and the benchmarks call that same function, the tab through the worker.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Optional

from .runtime.config import Preset


@dataclass(frozen=True)
class Method:
    """One method: where its run, settings, presets and cost live, what a worker preloads for it, and its tab."""

    name: str
    label: str
    paper: str
    package: str  # "methods.guide": its CLI is ``python -m <package>``
    entry: str  # the run every caller uses ("module:function")
    tab: str  # the ui module that shows it
    config: Optional[str] = None  # its settings class (bounds declared once, read by the UI)
    presets: Optional[str] = None  # a dict name -> Preset, or a function model -> that dict
    estimate: Optional[str] = None  # (config, preset, **options) -> expected seconds on the 2-core reference CPU
    generators: tuple[str, ...] = ()  # back-ends a stand-by worker loads before a run asks for them
    preload: tuple[str, ...] = ()  # "module:function" calls loading what a run's first seconds would (detectors, judges)
    warm: tuple[str, ...] = ()  # "module:function" calls filling the on-disk caches every run reads
    examples: Optional[str] = None  # "module:function" computing the tab's one-click examples (real runs)

    def load(self, field: str) -> Any:
        """The object a field names: ``METHODS["guide"].load("entry")`` is :func:`methods.guide.unlearn_identity`."""
        return resolve(getattr(self, field))

    def presets_for(self, model: Optional[str] = None) -> dict[str, Preset]:
        presets = self.load("presets")
        return presets(model) if callable(presets) else presets

    def seconds(self, config: Any, preset: Preset, **options: Any) -> float:
        """The run's expected time on the reference CPU with ``preset``'s options, overridden by ``options``."""
        return float(self.load("estimate")(config, preset, **{**preset.options, **options}))


def resolve(reference: str) -> Any:
    """``"package.module:attribute"`` -> the attribute."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


_FACES = ("methods.guide.face_input:template", "methods.guide.face_input:_mtcnn", "methods.judges.faces:_mtcnn",
          "methods.judges.faces:_dlib_models", "methods.judges.faces:_dlib_recognition")

METHODS: dict[str, Method] = {m.name: m for m in (
    Method(name="guide", label="GUIDE", paper="Seo et al., CVPR 2024", package="methods.guide",
           entry="methods.guide:unlearn_identity", tab="identity", config="methods.guide:GuideConfig",
           presets="methods.guide:PRESETS", estimate="methods.guide.config:estimate_seconds",
           generators=("digiface-dcgan",),
           # the optional networks are looked for once: offline, finding that their weights cannot be had takes seconds
           preload=(*_FACES, "methods.guide.inversion:load_encoder", "methods.guide.losses:lpips_model",
                    "methods.guide.losses:identity_model"),
           warm=("methods.guide.evaluate:warm_cache",), examples="methods.guide.examples:precompute"),
    Method(name="selective_amnesia", label="Selective Amnesia", paper="Heng & Soh, NeurIPS 2023",
           package="methods.selective_amnesia", entry="methods.selective_amnesia:forget", tab="amnesia",
           config="methods.selective_amnesia:AmnesiaConfig", presets="methods.selective_amnesia:presets_for",
           estimate="methods.selective_amnesia.config:estimate_seconds",
           generators=("digits-cvae", "digits-ddpm", "emoji-sd"),
           preload=("methods.judges.digits:classifier", "methods.judges.digits:attacker_classifier",
                    "methods.judges.emoji:emoji_judge"),
           warm=("methods.selective_amnesia.train:warm_cache",), examples="methods.selective_amnesia.examples:precompute"),
    Method(name="esd", label="ESD-x", paper="Gandikota et al., ICCV 2023", package="methods.esd",
           entry="methods.esd:erase", tab="amnesia", config="methods.esd:ESDConfig", presets="methods.esd:PRESETS",
           estimate="methods.esd.config:estimate_seconds", generators=("emoji-sd",),
           preload=("methods.judges.emoji:emoji_judge",)),
    Method(name="uce", label="UCE", paper="Gandikota et al., WACV 2024", package="methods.uce",
           entry="methods.uce:erase", tab="amnesia", config="methods.uce:UCEConfig", presets="methods.uce:PRESETS",
           estimate="methods.uce.config:estimate_seconds", generators=("emoji-sd",),
           preload=("methods.judges.emoji:emoji_judge",)),
    # computed in the server (SeFa in milliseconds) or shipped (Voynov's trained matrix): no worker run, no presets
    Method(name="directions", label="SeFa and Voynov–Babenko", paper="Shen & Zhou, CVPR 2021; Voynov & Babenko, ICML 2020",
           package="methods.directions", entry="methods.directions.__main__:discover", tab="directions",
           config="methods.directions.trainer:VoynovConfig"),
    Method(name="feature_unlearning", label="Feature Unlearning", paper="Moon, Cho & Kim, AAAI 2024",
           package="methods.feature_unlearning", entry="methods.feature_unlearning:unlearn_from_labels", tab="features",
           config="methods.feature_unlearning:FeatureUnlearningConfig", presets="methods.feature_unlearning:PRESETS",
           estimate="methods.feature_unlearning.config:estimate_seconds", generators=("digiface-dcgan",),
           preload=_FACES, examples="methods.feature_unlearning.examples:precompute"),
)}


def tabs() -> list[str]:
    """The tabs' modules under ``ui``, in the order of :data:`METHODS`, each once."""
    return list(dict.fromkeys(m.tab for m in METHODS.values()))


def _union(field: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(x for m in METHODS.values() for x in getattr(m, field)))


def preload_generators() -> tuple[str, ...]:
    return _union("generators")


def preload_calls() -> tuple[str, ...]:
    return _union("preload")


def warm_calls() -> tuple[str, ...]:
    return _union("warm")
