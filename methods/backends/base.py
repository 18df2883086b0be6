"""The generator protocol every back-end offers, and the registry that names them.

A new back-end is one subclass of :class:`GeneratorBackend` decorated with ``@register("name")``
and one import line in ``methods/backends/__init__.py``.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Optional

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from ..errors import InputError, shown

WEIGHTS_FILE = "generator.safetensors"
CONFIG_FILE = "config.json"

_REGISTRY: dict[str, type["GeneratorBackend"]] = {}


class BackendError(InputError):
    """A generator name or directory that cannot be loaded (message is shown to users)."""


def register(name: str):
    """Class decorator: make a back-end loadable by ``name`` and from directories it saved."""

    def deco(cls: type["GeneratorBackend"]) -> type["GeneratorBackend"]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def registered_names() -> list[str]:
    return sorted(_REGISTRY)


class GeneratorBackend(ABC):
    """A pretrained generator wrapped with the operations the methods need.

    ``module`` maps latents of shape ``latent_shape`` (per sample) to images in [-1, 1].
    Instances from :meth:`pretrained` are frozen and may be shared between users; methods
    fine-tune a :meth:`trainable_copy`, never the shared instance.
    """

    name: ClassVar[str] = ""
    latent_dim: ClassVar[int]
    image_size: ClassVar[int]
    conditions: ClassVar[Optional[list[str]]] = None
    # Declared capabilities (methods read these, never probe with getattr):
    open_vocabulary: ClassVar[bool] = False  # concepts are free-text prompts (see with_conditions), not a fixed list
    w_shape: ClassVar[Optional[tuple[int, ...]]] = None  # set by WSpaceBackend subclasses

    def __init__(self, module: nn.Module, config: Optional[dict[str, Any]] = None) -> None:
        self.module = module
        self.config = dict(config or {})

    # --- construction -------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def build_module(cls, **kwargs: Any) -> nn.Module:
        """An untrained module with this back-end's architecture."""

    @classmethod
    @abstractmethod
    def pretrained(cls) -> "GeneratorBackend":
        """The back-end's pretrained weights (must work offline for embedded defaults)."""

    @classmethod
    def claims(cls, name_or_dir: str | Path) -> bool:
        """True for names/folders this back-end loads itself with ``cls.load`` (not this suite's format)."""
        return False

    def frozen(self) -> "GeneratorBackend":
        self.module.eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        return self

    def trainable_copy(self) -> "GeneratorBackend":
        """A deep copy whose parameters require grad; the original is left untouched."""
        clone = copy.deepcopy(self.module)
        clone.eval()  # BatchNorm keeps its pretrained running statistics while fine-tuning
        for p in clone.parameters():
            p.requires_grad_(True)
        return type(self)(clone, self.config)

    def copy_to(self, device: torch.device | str) -> "GeneratorBackend":
        """A frozen copy on ``device``: how a run on a GPU gets the original there without moving the shared
        instance, which other visitors' runs read at the same time."""
        clone = copy.deepcopy(self.module).to(device)
        return type(self)(clone, self.config).frozen()

    # --- sampling -----------------------------------------------------------------------
    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.latent_dim,)

    def to(self, device: torch.device | str) -> "GeneratorBackend":
        """Move the module (in place) to ``device``."""
        self.module.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def sample_latents(self, n: int, seed: int) -> torch.Tensor:
        """``n`` latents from the prior, reproducible from ``seed`` (CPU generator)."""
        g = torch.Generator().manual_seed(int(seed))
        return torch.randn((n, *self.latent_shape), generator=g)

    @abstractmethod
    def decode(self, latents: torch.Tensor, condition: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Latents (N, *latent_shape) [+ class indices (N,) for conditional back-ends] -> images
        (N, C, H, W) in [-1, 1], differentiable."""

    def with_conditions(self, prompts: list[str], **config: Any) -> "GeneratorBackend":
        """The same generator with ``prompts`` as its concepts (``open_vocabulary`` back-ends only)."""
        raise InputError(f"'{self.name}' has a fixed set of concepts; it does not take prompts")

    def first_layer_matrix(self) -> torch.Tensor:
        """The first layer as a matrix A (out_features, latent_dim) acting on the latent (SeFa's input).

        For the DCGAN's ConvTranspose2d(100, 512, 4) on a 1x1 input the output is sum_i z_i W[i], so
        A = W.reshape(100, 512*4*4).T. Back-ends with another first layer override this.
        """
        for module in self.module.modules():
            if isinstance(module, nn.ConvTranspose2d):
                return module.weight.detach().reshape(module.weight.shape[0], -1).T
            if isinstance(module, nn.Linear):
                return module.weight.detach()
        raise InputError(f"'{self.name}' has no linear first layer for SeFa")

    def enable_gradient_checkpointing(self) -> None:
        """Recompute activations in the backward pass to save memory (back-ends whose module can override);
        a no-op elsewhere."""

    @torch.no_grad()
    def render(self, latents: torch.Tensor, condition: Optional[torch.Tensor] = None, batch_size: int = 256) -> torch.Tensor:
        """Decode without gradients, in batches, on the module's device; returns CPU images."""
        out = []
        for i, chunk in enumerate(latents.split(batch_size)):
            cond = None if condition is None else condition[i * batch_size : (i + 1) * batch_size].to(self.device)
            out.append(self.decode(chunk.to(self.device), cond).float().cpu())
        return torch.cat(out) if out else torch.empty(0, 3, self.image_size, self.image_size)

    def condition_index(self, condition: str | int) -> int:
        """A condition given by name or index -> its index (ValueError for an unknown one)."""
        if not self.conditions:
            raise InputError(f"'{self.name}' is not a conditional generator")
        if str(condition) in self.conditions:
            return self.conditions.index(str(condition))
        raise InputError(f"'{shown(condition)}' is not a concept of '{self.name}' (known: {', '.join(self.conditions)})")

    # --- persistence --------------------------------------------------------------------
    def save(self, directory: Path, provenance: Optional[dict[str, Any]] = None) -> list[Path]:
        """Write ``generator.safetensors`` and ``config.json`` (back-end, arguments, provenance); return both paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().cpu() for k, v in self.module.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE), metadata={"backend": self.name})
        cfg = {"backend": self.name, "config": self.config, "provenance": provenance or {}}
        (directory / CONFIG_FILE).write_text(json.dumps(cfg, indent=2, default=str) + "\n")
        return [directory / WEIGHTS_FILE, directory / CONFIG_FILE]

    @classmethod
    def from_directory(cls, directory: Path) -> "GeneratorBackend":
        cfg = json.loads((Path(directory) / CONFIG_FILE).read_text())
        module = cls.build_module(**cfg.get("config", {}))
        state = load_file(str(Path(directory) / WEIGHTS_FILE))
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise BackendError(
                f"{directory}: the weights do not fit the '{cls.name}' architecture ({exc.__class__.__name__})"
            ) from exc
        return cls(module, cfg.get("config", {})).frozen()


class WSpaceBackend(GeneratorBackend):
    """A generator with a richer intermediate latent space W (the analogue of StyleGAN's w): z -> W is a fixed
    map, W -> image the "synthesis" network. GUIDE inverts photos into W and fine-tunes the synthesis only."""

    w_shape: ClassVar[tuple[int, ...]]

    @abstractmethod
    def to_w(self, latents: torch.Tensor, pre_activation: bool = False) -> torch.Tensor:
        """z (N, latent_dim) -> w (N, *w_shape); ``pre_activation``: before projecting onto valid w (inversion)."""

    @abstractmethod
    def project_w(self, values: torch.Tensor) -> torch.Tensor:
        """Any values of W's shape -> the nearest valid w."""

    @abstractmethod
    def synthesize(self, w: torch.Tensor, return_features: bool = False, module: Optional[nn.Module] = None) -> Any:
        """w -> images in [-1, 1] [and intermediate features], through ``module`` (default: own)."""

    @abstractmethod
    def synthesis_parameter_names(self) -> list[str]:
        """The parameters after W: what a W-space method fine-tunes."""

    @torch.no_grad()
    def render_w(self, w: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Like :meth:`render`, from W."""
        return torch.cat([self.synthesize(chunk.to(self.device)).float().cpu() for chunk in w.split(batch_size)])


def load_generator(name_or_dir: str | Path) -> GeneratorBackend:
    """A registered back-end by name (pretrained weights), or a directory a method saved."""
    path = Path(name_or_dir)
    if str(name_or_dir) in _REGISTRY:
        return _REGISTRY[str(name_or_dir)].pretrained()
    for cls in _REGISTRY.values():  # back-ends with their own formats (e.g. a diffusers pipeline folder)
        if cls.claims(name_or_dir):
            return cls.load(name_or_dir)
    if path.is_dir():
        cfg_path = path / CONFIG_FILE
        if not cfg_path.is_file() or not (path / WEIGHTS_FILE).is_file():
            raise BackendError(f"{path} has no {CONFIG_FILE} + {WEIGHTS_FILE}: not a generator saved by this suite")
        try:
            backend = json.loads(cfg_path.read_text())["backend"]
        except (ValueError, KeyError) as exc:
            raise BackendError(f"{cfg_path} is not a generator config") from exc
        if backend not in _REGISTRY:
            raise BackendError(f"{path}: unknown back-end '{backend}' (known: {', '.join(registered_names())})")
        return _REGISTRY[backend].from_directory(path)
    raise BackendError(
        f"'{name_or_dir}' is neither a registered generator ({', '.join(registered_names())}) nor a directory"
    )


@dataclass(frozen=True)
class GeneratorRef:
    """A generator named rather than loaded: what a run's inputs carry into a worker process, which loads it
    from its own cache (a back-end holds modules that should not be copied between processes)."""

    name: str  # a registered back-end
    source: Optional[str] = None  # the back-end's model, for back-ends that load one (a diffusers id or folder)
    weights: Optional[str] = None  # a generator.safetensors to load into it (checked as a visitor's upload)

    def load(self) -> GeneratorBackend:
        if self.name not in _REGISTRY:
            raise BackendError(f"unknown generator '{self.name}' (known: {', '.join(registered_names())})")
        backend = load_generator(self.source) if self.source else _REGISTRY[self.name].pretrained()
        if backend.name != self.name:
            raise BackendError(f"'{self.source}' is not a '{self.name}' generator")
        return load_weights_into(backend, Path(self.weights)) if self.weights else backend


def load_weights_into(backend: GeneratorBackend, weights_file: Path) -> GeneratorBackend:
    """A frozen copy of ``backend`` with the weights of a ``generator.safetensors`` file.

    Used for user uploads: a wrong file gives a :class:`BackendError` with a readable message.
    """
    try:
        state = load_file(str(weights_file))
    except Exception as exc:  # safetensors raises several types for a non-safetensors file
        raise BackendError(f"{Path(weights_file).name} is not a safetensors file") from exc
    module = type(backend).build_module(**backend.config)
    missing, unexpected = set(module.state_dict()) - set(state), set(state) - set(module.state_dict())
    if missing or unexpected:
        raise BackendError(
            f"{Path(weights_file).name} is not a '{backend.name}' checkpoint "
            f"({len(missing)} tensors missing, {len(unexpected)} unexpected)"
        )
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise BackendError(f"{Path(weights_file).name}: tensor shapes do not match '{backend.name}'") from exc
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise BackendError(f"{Path(weights_file).name} has NaN or infinite weights ({len(bad)} tensors): not a usable generator")
    return type(backend)(module, backend.config).frozen()
