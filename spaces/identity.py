"""Identity tab: GUIDE (coming)."""
from spaces.common import coming_soon


def build() -> None:
    coming_soon(
        "Identity — GUIDE",
        "Upload one face; GUIDE fine-tunes the face generator so it can no longer produce that person, "
        "while other faces stay as they were.",
        "issue 4",
    )
