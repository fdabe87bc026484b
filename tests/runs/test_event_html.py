"""The run log's HTML: an event's live fragment and the stored log folded for the page build
the same step (runs/event_html.py)."""

from __future__ import annotations

from runs.event_html import event_fragment, log_html

CALL = {"call": "c1", "tool": "view_image", "arguments": '{"path": "logo.png"}'}


def test_a_tool_s_images_show_the_same_live_and_folded():
    output = {
        "call": "c1",
        "output": "",
        "images": [
            {"id": 7, "type": "image/png", "bytes": 68},
            {"omitted": "image/png, 9000 kB: too large to show"},
        ],
    }
    fragment = event_fragment(3, 2, "tool_output", output)
    assert '<img class="tool-image" src="/runs/images/7"' in fragment
    assert 'href="/runs/images/7"' in fragment
    assert "Image not shown: image/png, 9000 kB: too large to show" in fragment
    assert "(no output)" not in fragment

    folded = log_html(3, [(1, "tool_call", CALL), (2, "tool_output", output)])

    assert fragment.replace(' hx-swap-oob="true"', "") in folded.html
    assert "running…" not in folded.html


def test_an_image_with_text_shows_both_and_text_alone_says_no_output():
    both = event_fragment(3, 2, "tool_output", CALL | {"output": "shot", "images": [{"id": 1}]})
    assert 'src="/runs/images/1"' in both and '<pre class="out">shot</pre>' in both
    empty = event_fragment(3, 2, "tool_output", CALL | {"output": ""})
    assert "<img" not in empty and "(no output)" in empty


def test_a_lane_call_is_a_step_and_a_panel_in_its_lane_s_column():
    payload = {"lane": 5, "label": "Split <b>", "run": 41, "call": "c9", "prompt": "go"}
    fragment = event_fragment(3, 4, "lane_call", payload)
    assert '<div hx-swap-oob="beforeend:#run-3-log"><li class="ev ev-lane-call"' in fragment
    assert "<strong>Split &lt;b&gt;</strong>" in fragment and 'href="/runs/41/"' in fragment
    assert '<div hx-swap-oob="beforeend:#lane-5-calls">' in fragment

    folded = log_html(3, [(4, "lane_call", payload)])

    step = fragment.split('beforeend:#run-3-log">')[1].split("</li>")[0] + "</li>"
    assert folded.html == step
    [panel] = folded.elsewhere["lane-5-calls"]
    assert f'<div hx-swap-oob="beforeend:#lane-5-calls">{panel}</div>' in fragment
    assert 'data-ws-path="/ws/runs/41/"' in panel
