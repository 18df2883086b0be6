"""Unlearning Studio's method library. Nothing under this package imports Gradio: every method is usable from
Python and from its CLI.

One package per method, each laid out the same way (``config.py`` settings and bounds, the objective, ``train.py``
the loop, ``evaluate.py``, ``compare.py``/``pipeline.py`` the tab's run returning a ``runtime.RunResult``,
``__main__.py`` the CLI):

- ``feature_unlearning/``  Feature Unlearning (Moon, Cho & Kim, AAAI 2024) + latent-shift baseline + PGD probe
- ``selective_amnesia/``   Selective Amnesia (Heng & Soh, NeurIPS 2023): cVAE, DDPM, Stable Diffusion adapters
- ``guide/``               GUIDE (Seo et al., CVPR 2024): photo -> W inversion -> identity unlearning
- ``directions/``          SeFa and Voynov & Babenko latent directions (no training run for the tab)

Shared, and said so by their place:

- ``backends/``      generator back-ends and their registry (a new generator is one class)
- ``runtime/``       device, seeding, progress/cancel, training set-up, the run contract, config bounds
- ``judges/``        evaluation models no loss uses (dlib/MTCNN faces, the digits classifier)
- ``image_metrics.py`` MS-SSIM / SSIM at the suite's sizes
- ``sample.py``      ``python -m methods.sample``; ``invert.py``: ``python -m methods.invert`` (GUIDE's inversion)
"""
