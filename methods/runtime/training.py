"""The set-up every fine-tuning method shares: a trainable copy of the shared generator, the parameters it
trains, Adam, the device accelerate chose, and the step that keeps several processes in step
(:mod:`~methods.runtime.distributed`) — so the loops differ only in what they compute."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Collection, ContextManager, Optional

import torch

from .device import make_accelerator, use_all_cores
from .distributed import average_gradients, broadcast_buffers, same_on_every_process, share

if TYPE_CHECKING:
    from ..backends import GeneratorBackend


@dataclass
class TrainingSetup:
    accelerator: Any  # accelerate.Accelerator
    student: "GeneratorBackend"  # the trainable copy, on the training device (never wrapped: see distributed.py)
    optimizer: torch.optim.Optimizer
    trainable: list[str]  # names of the parameters that train
    identical_on_every_process: Optional[bool] = None  # set by finish() when several processes ran

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    def teacher(self, backend: "GeneratorBackend") -> "GeneratorBackend":
        """The frozen original on the training device (see :func:`on_device`)."""
        return on_device(backend, self.device)

    @property
    def num_processes(self) -> int:
        return self.accelerator.num_processes

    def share(self, batch: torch.Tensor, what: str = "batch") -> torch.Tensor:
        """This process's slice of a global batch every process drew alike (all of it with one process)."""
        return share(batch, what)

    def autocast(self) -> ContextManager:
        """Mixed precision for the forwards, when the run asked for it (a no-op otherwise)."""
        return self.accelerator.autocast()

    def backward(self, loss: torch.Tensor) -> None:
        """The backward (loss-scaled under fp16), then the gradients averaged over the processes."""
        self.accelerator.backward(loss)
        average_gradients(p for p in self.student.module.parameters() if p.requires_grad)

    def step(self, loss: torch.Tensor) -> None:
        """One optimiser step on ``loss``: zero the gradients, :meth:`backward`, step."""
        self.optimizer.zero_grad(set_to_none=True)
        self.backward(loss)
        self.optimizer.step()

    def finish(self, to_cpu: bool = True) -> "GeneratorBackend":
        """Move to the CPU (results are shown and saved from there) unless ``to_cpu`` is False, freeze, and return
        the student; with several processes, check that every process holds the same weights."""
        module = self.student.module
        broadcast_buffers(module)
        self.identical_on_every_process = same_on_every_process(module)
        self.student.module = module.cpu() if to_cpu else module
        return self.student.frozen()

    def process_report(self) -> dict[str, Any]:
        """What a run's report records about its processes."""
        report: dict[str, Any] = {"num_processes": self.num_processes}
        if self.identical_on_every_process is not None:
            report["weights_identical_on_every_process"] = self.identical_on_every_process
        return report


def on_device(backend: "GeneratorBackend", device: torch.device) -> "GeneratorBackend":
    """The frozen original where the run computes: the shared instance itself when it is already there (a CPU
    run), else a frozen copy on ``device``. The shared instance is never moved or changed."""
    return backend if backend.device == torch.device(device) else backend.copy_to(device)


def prepare_training(backend: "GeneratorBackend", lr: float, *, betas: tuple[float, float] = (0.9, 0.999),
                     trainable: Optional[Collection[str]] = None, mixed_precision: str = "no",
                     gradient_checkpointing: bool = False, accelerator: Any = None) -> TrainingSetup:
    """A trainable copy of ``backend`` (the shared original is never touched), training only ``trainable``
    parameters (default: all), with Adam at ``lr``, on the device accelerate chose.

    The module is moved, not wrapped (see :mod:`~methods.runtime.distributed`); only the optimiser goes through
    ``accelerator.prepare`` (fp16 loss scaling). Loops step with :meth:`TrainingSetup.step` and draw with
    :meth:`TrainingSetup.share`."""
    use_all_cores()
    accelerator = accelerator or make_accelerator(mixed_precision)
    student = backend.trainable_copy()
    student.module.to(accelerator.device)
    names = [k for k, _ in student.module.named_parameters()] if trainable is None else list(trainable)
    chosen = set(names)
    for name, p in student.module.named_parameters():
        p.requires_grad_(name in chosen)
    if gradient_checkpointing:
        student.enable_gradient_checkpointing()
    optimizer = torch.optim.Adam([p for p in student.module.parameters() if p.requires_grad], lr=lr, betas=betas)
    optimizer = accelerator.prepare(optimizer)
    return TrainingSetup(accelerator, student, optimizer, names)
