"""``python -m methods.invert --image FACE --out W.npy``: the inversion CLI of ``methods.guide.inversion``
(kept at this name so the command stays the same)."""
from .guide.inversion import main

if __name__ == "__main__":
    raise SystemExit(main())
