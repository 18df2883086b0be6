"""The method registry is the one place a method is declared: every reference in it resolves, every tab it names
exists, the worker preloads what it says, and the shipped examples were made with the settings the code gives now."""
import importlib
import json
from dataclasses import asdict
from pathlib import Path

import pytest

from methods.registry import METHODS, resolve, tabs
from methods.runtime.results import EXAMPLES_ROOT

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(METHODS))
def test_every_entry_resolves_and_has_its_cli_and_tab(name):
    method = METHODS[name]
    assert callable(method.load("entry")) and (ROOT / Path(*method.package.split(".")) / "__main__.py").is_file()
    for field in ("config", "presets", "estimate", "examples"):
        if getattr(method, field):
            assert method.load(field) is not None, field
    for call in method.preload + method.warm:
        assert callable(resolve(call)), call
    tab = importlib.import_module(f"ui.{method.tab}")
    assert isinstance(tab.TITLE, str) and callable(tab.build)


def test_estimates_follow_the_presets():
    """A preset with more steps is expected to take longer; the attack adds time (one signature for every method)."""
    for name, model in (("guide", None), ("selective_amnesia", "digits-cvae"), ("feature_unlearning", None)):
        method = METHODS[name]
        config_cls, presets = method.load("config"), method.presets_for(model)
        make = (lambda p: config_cls.for_model(model, p)) if model else (lambda p: config_cls(**p.settings))
        quick, full = (method.seconds(make(presets[p]), presets[p]) for p in ("quick", "full"))
        assert 0 < quick < full, (name, quick, full)
    sa = METHODS["selective_amnesia"]
    preset = sa.presets_for("digits-cvae")["quick"]
    config = sa.load("config").for_model("digits-cvae", preset)
    assert sa.seconds(config, preset, attack=True) > sa.seconds(config, preset, attack=False)


def test_the_app_has_one_tab_per_registered_tab_and_the_worker_preloads_the_registry():
    import ui.worker as worker

    shown = [p.stem for p in (ROOT / "ui").glob("*.py") if "\nTITLE = " in p.read_text() and "\ndef build(" in p.read_text()]
    assert sorted(tabs()) == sorted(shown) and tabs()[0] == "identity"  # no tab left out of the app, the first one first
    assert {m.entry.partition(":")[0] for m in METHODS.values()} <= set(worker.PRELOAD_MODULES)
    assert set(worker.PRELOAD_GENERATORS) == {g for m in METHODS.values() for g in m.generators}
    assert "methods.guide.evaluate:warm_cache" in worker.WARM_CALLS


def _shipped(tab: str, slug: str) -> dict:
    return json.loads((EXAMPLES_ROOT / tab / slug / "result.json").read_text())


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if m.examples])
def test_shipped_examples_were_made_with_the_settings_the_code_gives_now(name):
    """A changed default or preset makes its example stale: recompute it (scripts/precompute_examples.py --only NAME)."""
    method = METHODS[name]
    recipes = importlib.import_module(method.examples.partition(":")[0]).configs()
    assert recipes
    for slug, config in recipes.items():
        shipped = _shipped(method.tab, slug)
        assert shipped["method"] == name and shipped["command"].startswith("python scripts/precompute_examples.py")
        assert json.loads(json.dumps(asdict(config))) == shipped["report"]["settings"], f"{method.tab}/{slug} is stale"
        assert shipped["verdict"] and shipped["metrics"]


def test_the_shipped_comparison_was_made_with_every_erasers_settings_now():
    """Compare's example: each eraser's settings are what its quick preset gives now, the attack's rows included."""
    from methods.selective_amnesia.examples import COMPARE, compare_configs

    shipped = _shipped("amnesia", COMPARE[0])
    assert shipped["method"] == "compare" and shipped["inputs"]["compare"] is True
    ran = shipped["report"]["methods"]
    assert set(ran) == set(compare_configs())
    for name, config in compare_configs().items():
        expected = json.loads(json.dumps(asdict(config)))
        # the comparison draws every method's images with the first method's sampler (like with like for the judge)
        expected["sample_steps"] = ran[name]["settings"]["sample_steps"]
        assert ran[name]["settings"] == expected, f"amnesia/{COMPARE[0]}: {name} is stale"
        assert "recovered_unlearned" in ran[name]["attack"]
