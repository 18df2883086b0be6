"""Config fields that declare their bounds once: the method checks them when a config is made, the CLI
inherits them, and the UI reads them for its sliders and checks visitors' input against them.

    steps: int = bounded(300, 1, 20_000, "Steps", ui=(10, 2000, 10))

``bounds`` are what the method accepts (the CLI, a trusted user); ``ui`` is the part of that range a public
Space offers, with the slider step. A config is checked once, in ``__post_init__``: an invalid one cannot exist.
"""
from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Optional
from ..errors import InputError, shown


def bounded(default: Any, low: float, high: float, label: str, *, ui: Optional[tuple[float, float, float]] = None,
            exclusive_low: bool = False) -> Any:
    """A numeric dataclass field within [low, high] (``(low, high]`` with ``exclusive_low``); ``ui``:
    (min, max, step) of the public slider, within the bounds."""
    return field(default=default, metadata={"bounds": (low, high), "label": label, "ui": ui,
                                            "exclusive_low": exclusive_low})


def choice(default: str, choices: tuple[str, ...], label: str) -> Any:
    """A text field that must be one of ``choices``."""
    return field(default=default, metadata={"choices": tuple(choices), "label": label})


def ui_bounds(config_cls: type, name: str) -> tuple[float, float, float]:
    """(min, max, step) of the public control for field ``name`` (the bounds when no ``ui`` range is set)."""
    meta = _meta(config_cls, name)
    if meta.get("ui"):
        return meta["ui"]
    low, high = meta["bounds"]
    return low, high, 1 if isinstance(_default(config_cls, name), int) else 0


CPU_BUDGET_S = 300.0  # the longest run a public visitor may start on a CPU; larger ones are for the CLI or a GPU


@dataclass(frozen=True)
class CpuCost:
    """A run's time on the 2-core reference CPU, from the method's benchmark: ``fixed_s`` (loading, buffers,
    evaluation) plus ``step_s`` per training step at ``batch`` samples (linear in the batch)."""

    fixed_s: float
    step_s: float
    batch: int = 1

    def seconds(self, steps: int, batch: Optional[int] = None, fixed_s: Optional[float] = None) -> float:
        """``fixed_s`` replaces the measured fixed part (a preset that evaluates less costs less around the loop)."""
        return (self.fixed_s if fixed_s is None else fixed_s) + steps * self.step_s * (batch or self.batch) / self.batch


@dataclass(frozen=True)
class Preset:
    """A named starting point for a run: config field values (``settings``) and keyword options of the method's
    entry point (``options``: how much to evaluate, whether to run the baseline or the probe...). Each method
    declares its presets once, beside its config; the CLI and the UI read them, the benchmarks measure them.

    ``fixed_s``: the run's measured time outside the training loop on the reference CPU under this preset
    (None: the method's own constant)."""

    name: str
    label: str
    settings: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    fixed_s: Optional[float] = None


def check_cpu_budget(seconds: float, on_gpu: bool) -> None:
    """Refuse, in plain words, a public run that would hold the CPU longer than :data:`CPU_BUDGET_S`."""
    if not on_gpu and seconds > CPU_BUDGET_S:
        raise InputError(f"These settings would take about {seconds / 60:.0f} min on this machine's CPU; runs here are "
                         f"limited to {CPU_BUDGET_S / 60:.0f} min. Lower the steps (or the batch size), or run the "
                         "command line on your own machine.")


@dataclass
class BoundedConfig:
    """Base of the methods' configs: every :func:`bounded` / :func:`choice` field is checked at construction."""

    def __post_init__(self) -> None:
        for f in fields(self):
            _check(f.metadata, getattr(self, f.name))

    @classmethod
    def default(cls, name: str) -> Any:
        return _default(cls, name)

    @classmethod
    def label(cls, name: str) -> str:
        return _meta(cls, name)["label"]

    @classmethod
    def from_inputs(cls, public: bool = True, **values: Any) -> "BoundedConfig":
        """A config from untrusted input (UI widgets or API calls: text, None, NaN): see :meth:`checked_inputs`."""
        return cls(**cls.checked_inputs(public, **values))

    @classmethod
    def checked_inputs(cls, public: bool = True, **values: Any) -> dict[str, Any]:
        """Untrusted values coerced to their fields' types and checked against the public ``ui`` range when
        ``public``, else the bounds (for configs that take more settings from elsewhere, e.g. per-model defaults)."""
        coerced = {}
        for name, value in values.items():
            meta = _meta(cls, name)
            if "bounds" in meta:
                low, high = (ui_bounds(cls, name)[:2] if public else meta["bounds"])
                coerced[name] = coerce_number(value, low, high, meta["label"], isinstance(_default(cls, name), int)
                                              and not isinstance(_default(cls, name), bool))
            else:
                coerced[name] = value
        return coerced


def coerce_number(value: Any, low: float, high: float, label: str, integer: bool = False) -> float | int:
    """A number from untrusted input within [low, high], or ValueError with a plain message."""
    if isinstance(value, bool):  # float(True) is 1.0, but a tick box is not a number
        raise InputError(f"{label} must be a number")
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{label} must be a number") from None
    if not math.isfinite(x) or x < low or x > high:
        raise InputError(f"{label} must be between {_num(low)} and {_num(high)} (got {shown(value, 24)})")
    if integer:
        if x != int(x):
            raise InputError(f"{label} must be a whole number")
        return int(x)
    return x


def _check(meta: Any, value: Any) -> None:
    if "bounds" in meta:
        low, high = meta["bounds"]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (low < value if meta["exclusive_low"] else low <= value) and value <= high
        if not ok:
            side = f"in ({_num(low)}, {_num(high)}]" if meta["exclusive_low"] else f"between {_num(low)} and {_num(high)}"
            raise InputError(f"{meta['label']} must be {side}")
    if "choices" in meta and value not in meta["choices"]:
        raise InputError(f"{meta['label']} must be one of {', '.join(meta['choices'])}")


def _num(x: float) -> str:
    """A bound as people write it: 2147483647, not 2.14748e+09; 1e-07 stays short."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _meta(config_cls: type, name: str) -> Any:
    for f in fields(config_cls):
        if f.name == name:
            return f.metadata
    raise KeyError(f"{config_cls.__name__} has no field '{name}'")


def _default(config_cls: type, name: str) -> Any:
    for f in fields(config_cls):
        if f.name == name:
            return f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
    raise KeyError(name)
