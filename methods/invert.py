"""``python -m methods.invert --image FACE --out W.npy``: the inversion CLI (see ``methods.inversion``)."""
from .inversion import main

if __name__ == "__main__":
    raise SystemExit(main())
