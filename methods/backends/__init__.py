"""Generator back-ends. Add one: a module with a ``@register``-ed subclass of :class:`GeneratorBackend`
(or :class:`WSpaceBackend`, for a generator with a W space), and an import here."""
from .base import (
    BackendError,
    GeneratorBackend,
    GeneratorRef,
    WSpaceBackend,
    load_generator,
    load_weights_into,
    register,
    registered_names,
)
from . import dcgan, digits, face_vae, stable_diffusion  # noqa: F401  (registers "digiface-dcgan", "digiface-vae", "digits-cvae",
# "digits-ddpm", "stable-diffusion")

DEFAULT_FACE_GENERATOR = "digiface-dcgan"
FACE_GENERATORS = (DEFAULT_FACE_GENERATOR, "digiface-vae")  # unconditional 64-px face generators (Features, Directions)

__all__ = [
    "BackendError",
    "DEFAULT_FACE_GENERATOR",
    "FACE_GENERATORS",
    "GeneratorBackend",
    "GeneratorRef",
    "WSpaceBackend",
    "load_generator",
    "load_weights_into",
    "register",
    "registered_names",
]
