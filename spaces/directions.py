"""Directions tab: latent direction discovery (coming)."""
from spaces.common import coming_soon


def build() -> None:
    coming_soon(
        "Directions — Voynov & Babenko, SeFa",
        "Discover interpretable directions in the generator's latent space and slide along them; send one to the "
        "Features tab as the feature to unlearn.",
        "issue 3",
    )
