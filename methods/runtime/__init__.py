"""What every method shares and none owns: device and seeding, progress and cancel, the training set-up,
the run contract (:class:`RunResult` + :func:`save_run`) and config bounds.

Files: ``device.py`` (accelerate, threads, seeds, memory), ``distributed.py`` (several processes: slices, averaged
gradients), ``progress.py`` (progress, sub-ranges, cancel),
``training.py`` (trainable copy + Adam + the step), ``results.py`` (the run contract, saving,
precomputed examples, JSON), ``config.py`` (fields with bounds declared once, read by the UI; presets), ``attack.py`` (the shared shape of a
recovery attack), ``cache.py`` (on-disk caches of what depends only on a model's weights).
"""
from .attack import AttackReport, save_attack
from .config import BoundedConfig, Preset, bounded, ui_bounds
from .device import gpu_available, make_accelerator, peak_memory, seed_everything, use_all_cores
from .progress import CancelFn, Cancelled, ProgressFn, check_cancel, report_progress, report_step, subrange
from .results import MetricRow, RunResult, load_display, save_display, save_run, to_jsonable, to_uint8, write_json
from .training import TrainingSetup, on_device, prepare_training

__all__ = [
    "AttackReport", "BoundedConfig", "CancelFn", "Cancelled", "MetricRow", "Preset", "ProgressFn", "RunResult", "TrainingSetup", "bounded",
    "check_cancel", "gpu_available", "load_display", "make_accelerator", "on_device", "peak_memory", "prepare_training", "report_progress",
    "report_step", "save_attack", "save_display", "save_run", "seed_everything", "subrange", "to_jsonable", "to_uint8", "ui_bounds",
    "use_all_cores", "write_json",
]
