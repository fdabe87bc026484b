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


def test_a_model_response_shows_its_time_tokens_and_cost_with_an_anchor():
    payload = {
        "started_at": "2026-12-02T03:00:00+00:00",
        "ended_at": "2026-12-02T03:00:01.500000+00:00",
        "input_tokens": 1200,
        "cached_input_tokens": 1000,
        "output_tokens": 80,
        "reasoning_tokens": 0,
        "cost": "0.00123",
    }
    fragment = event_fragment(3, 5, "response", payload)
    step = '<li class="ev ev-response small muted" id="run-3-ev-5" data-seq="5"'
    assert step in fragment
    assert "Model response · 1.5 s · 1200 in (1000 cached) · 80 out · $0.0012</li>" in fragment
    assert "reasoning" not in fragment
    folded = log_html(3, [(5, "response", payload)])
    assert f'<div hx-swap-oob="beforeend:#run-3-log">{folded.html}</div>' == fragment
    unpriced = event_fragment(3, 6, "response", {"input_tokens": 1, "output_tokens": 2})
    assert "· — · 1 in · 2 out · no price" in unpriced


def test_every_step_has_the_anchor_the_timeline_links_to():
    events = [
        (1, "agent", {"name": "Builder"}),
        (2, "message_start", {"item": "m"}),
        (3, "tool_call", CALL),
        (4, "mcp_tools", {"server": "docs", "url": "http://x", "tools": ["a"]}),
        (5, "lane_call", {"lane": 1, "label": "L", "run": 9, "call": "c", "prompt": "p"}),
        (6, "note", {"text": "hello"}),
        (7, "response", {"input_tokens": 1, "output_tokens": 1}),
    ]
    folded = log_html(3, events)
    for seq, kind, payload in events:
        anchor = f'id="run-3-ev-{seq}" data-seq="{seq}"'
        assert folded.html.count(anchor) == 1, kind
        assert anchor in event_fragment(3, seq, kind, payload), kind
