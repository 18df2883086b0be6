"""A few training steps of every fine-tuning loop, run by ``test_processes.py`` with one process (``python``) and with
two (``torchrun --nproc_per_node 2``): each process writes its trained weights' fingerprint, the main one its weights.

``python tests/runtime/processes_job.py OUT``
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from methods.backends import load_generator
from methods.runtime.distributed import fingerprint, is_main_process, process_count, process_index


def feature_unlearning(face):
    from methods.feature_unlearning.config import FeatureUnlearningConfig
    from methods.feature_unlearning.train import run

    pool = face.sample_latents(64, seed=3)
    config = FeatureUnlearningConfig(steps=4, batch_size=8, eval_samples=0, seed=1)
    result = run(config, face, pool[:32], pool[32:])
    return result.generator.module, result.report


def guide(face):
    from methods.guide.config import GuideConfig
    from methods.guide.train import run

    source_w = face.to_w(face.sample_latents(1, seed=11))
    result = run(GuideConfig(steps=4, n_adjacent=2, n_global=4, seed=1), face, source_w)
    return result.generator.module, result.report


def selective_amnesia(_):
    from methods.selective_amnesia.config import AmnesiaConfig
    from methods.selective_amnesia.train import run

    config = AmnesiaConfig.for_model("digits-cvae", steps=10, batch_size=32, seed=1)
    result = run(config, load_generator("digits-cvae"))
    return result.generator.module, result.report


def voynov(face):
    from methods.directions.trainer import VoynovConfig, train_voynov

    result = train_voynov(VoynovConfig(k=4, steps=4, batch_size=8, seed=1), face)
    module = torch.nn.ModuleList([result.matrix, result.reconstructor])
    return module, {"num_processes": process_count(), "weights_identical_on_every_process": result.identical_on_every_process}


def esd(_):
    from methods.esd.config import ESDConfig
    from methods.esd.train import run

    emoji = load_generator("emoji-sd").with_conditions([], sample_steps=2)
    erased, report = run(ESDConfig(forget=("a cat",), iterations=3, batch_size=2, ddim_steps=4, seed=1), emoji)
    return erased.module, report


LOOPS = {"feature_unlearning": feature_unlearning, "guide": guide, "selective_amnesia": selective_amnesia, "voynov": voynov,
         "esd": esd}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    face = load_generator("digiface-dcgan")
    for name, loop in LOOPS.items():
        module, report = loop(face)
        tag = f"{name}-{process_count()}"
        (out / f"{tag}-rank{process_index()}.txt").write_text(fingerprint(module))
        if is_main_process():
            save_file({k: v.contiguous() for k, v in module.state_dict().items()}, out / f"{tag}.safetensors")
            (out / f"{tag}.json").write_text(json.dumps({k: report.get(k) for k in
                                                         ("num_processes", "weights_identical_on_every_process")}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
