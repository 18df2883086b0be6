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
