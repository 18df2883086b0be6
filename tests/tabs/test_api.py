"""The public API page lists each tab's main actions under stable names, and nothing else."""


def test_api_lists_the_main_actions_only():
    from app import build_app

    info = build_app().get_api_info()
    assert sorted(info["named_endpoints"]) == [
        "/amnesia_compare", "/amnesia_forget", "/directions_load", "/directions_render", "/directions_strip", "/features_unlearn",
        "/identity_preview", "/identity_unlearn",
    ]
    assert not info["unnamed_endpoints"]
    labels = [p["label"] for p in info["named_endpoints"]["/identity_unlearn"]["parameters"]]
    assert labels[0].startswith("Photo of one person") and "Fine-tuning steps" in labels


def test_private_events_answer_what_no_button_sends_in_plain_words():
    from ui import amnesia, features, identity
    from ui.common import by_name

    for tab in (amnesia, features, identity):
        for title in ("no such title", None, ["a list"]):
            shown = by_name(tab.show_example, tab.show_example(title))
            assert shown["status"] == "⚠️ there is no such example: press one of the example buttons", (tab, shown)


def test_checked_components_hand_values_over_as_sent_and_leave_no_stub_file():
    from pathlib import Path

    import gradio as gr
    import pytest

    from ui import common

    slider, number = common.checked_by_handler(gr.Slider(0, 10, 5)), common.checked_by_handler(gr.Number(1))
    radio = common.checked_by_handler(gr.Radio(["quick", "full"], value="quick"))
    assert [c.preprocess(v) for c, v in ((slider, "abc"), (number, None), (radio, "fastest"))] == ["abc", None, "fastest"]
    with pytest.raises(Exception):  # every other slider keeps Gradio's own check
        gr.Slider(0, 10, 5).preprocess(30)
    assert not Path(common.__file__).with_suffix(".pyi").exists()  # Gradio writes one beside a component subclass
