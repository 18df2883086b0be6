"""The set-up every fine-tuning method shares: a trainable copy of the shared generator, the parameters it
trains, Adam, and ``accelerator.prepare`` — so the loops differ only in what they compute."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Collection, Optional

import torch

from .device import make_accelerator, use_all_cores

if TYPE_CHECKING:
    from ..backends import GeneratorBackend


@dataclass
class TrainingSetup:
    accelerator: Any  # accelerate.Accelerator
    student: "GeneratorBackend"  # the trainable copy; ``student.module`` is the prepared (possibly wrapped) module
    optimizer: torch.optim.Optimizer
    trainable: list[str]  # names of the parameters that train

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    def teacher(self, backend: "GeneratorBackend") -> "GeneratorBackend":
        """The frozen original on the training device (see :func:`on_device`)."""
        return on_device(backend, self.device)

    def unwrapped(self) -> torch.nn.Module:
        """The student's module without accelerate's wrapper (for functional calls and penalties)."""
        return self.accelerator.unwrap_model(self.student.module)

    def finish(self, to_cpu: bool = True) -> "GeneratorBackend":
        """Unwrap, move to the CPU (results are shown and saved from there) unless ``to_cpu`` is False, freeze,
        and return the student."""
        module = self.unwrapped()
        self.student.module = module.cpu() if to_cpu else module
        return self.student.frozen()


def on_device(backend: "GeneratorBackend", device: torch.device) -> "GeneratorBackend":
    """The frozen original where the run computes: the shared instance itself when it is already there (a CPU
    run), else a frozen copy on ``device``. The shared instance is never moved or changed."""
    return backend if backend.device == torch.device(device) else backend.copy_to(device)


def prepare_training(backend: "GeneratorBackend", lr: float, *, betas: tuple[float, float] = (0.9, 0.999),
                     trainable: Optional[Collection[str]] = None, mixed_precision: str = "no",
                     gradient_checkpointing: bool = False, accelerator: Any = None) -> TrainingSetup:
    """A trainable copy of ``backend`` (the shared original is never touched), training only ``trainable``
    parameters (default: all), with Adam at ``lr`` and everything placed by accelerate."""
    use_all_cores()
    accelerator = accelerator or make_accelerator(mixed_precision)
    student = backend.trainable_copy()
    names = [k for k, _ in student.module.named_parameters()] if trainable is None else list(trainable)
    chosen = set(names)
    for name, p in student.module.named_parameters():
        p.requires_grad_(name in chosen)
    if gradient_checkpointing:
        student.enable_gradient_checkpointing()
    optimizer = torch.optim.Adam([p for p in student.module.parameters() if p.requires_grad], lr=lr, betas=betas)
    student.module, optimizer = accelerator.prepare(student.module, optimizer)
    return TrainingSetup(accelerator, student, optimizer, names)
