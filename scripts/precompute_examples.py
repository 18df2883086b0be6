"""Compute each tab's one-click examples and ship what the tab shows of them (instant for the first visitor).

    python scripts/precompute_examples.py [--only guide|selective_amnesia|feature_unlearning]

Each method in :data:`methods.registry.METHODS` with an ``examples`` recipe runs it: real runs with the tab's full
preset (seed 0) on this 2-core CPU, each saved under ``assets/examples/<tab>/<name>/`` with its galleries (PNG
strips), metric rows, verdict, report and how it was made (command, seed, seconds).
"""
from __future__ import annotations

import argparse
import sys

from methods.registry import METHODS

RECIPES = {name: m for name, m in METHODS.items() if m.examples}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(RECIPES))
    args = parser.parse_args()
    for name, method in RECIPES.items():
        if args.only in (None, name):
            method.load("examples")()
    return 0


if __name__ == "__main__":
    sys.exit(main())
