"""Amnesia tab: Selective Amnesia (coming)."""
from spaces.common import coming_soon


def build() -> None:
    coming_soon(
        "Amnesia — Selective Amnesia",
        "Pick a concept (a digit class, or a prompt on Stable Diffusion); the model forgets it and maps it to a "
        "surrogate, with a Fisher penalty and generative replay keeping everything else.",
        "issue 5",
    )
