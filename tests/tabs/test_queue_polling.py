"""Gradio's queue polls calmly: its idle loop (1 ms by default) takes about a tenth of a core from the 2 that
training uses (benchmarks/server_noise.py)."""


def test_the_queue_polls_at_the_apps_intervals():
    from app import PROGRESS_POLL_S, QUEUE_POLL_S, build_app

    queue = build_app()._queue
    # if a Gradio release renames these, calm_queue leaves them alone and this fails: find the new names
    assert queue.sleep_when_free == QUEUE_POLL_S and queue.progress_update_sleep_when_free == PROGRESS_POLL_S
