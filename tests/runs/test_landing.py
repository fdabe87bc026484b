"""The demo's landing-page generator: briefs become specs, follow-ups change only what they ask."""

import difflib

import pytest

from runs.demo import landing

BAKERY = "A landing page for a bakery in Lyon. List the croissants."


def changed_lines(old: str, new: str) -> list[str]:
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def test_a_brief_gives_a_full_page_in_its_words():
    spec = landing.spec_from_brief(BAKERY)

    assert spec["layout"] in landing.LAYOUTS
    assert spec["brand"] == "Lyon Bakery"
    assert "Lyon" in spec["headline"]
    assert spec["features"][0]["title"] == "Croissants"  # named by the brief
    assert len(spec["features"]) == 3
    assert spec["cta"] and spec["band_title"] and spec["band_cta"]
    assert spec["sections"] == ["header", "hero", "features", "band", "footer"]
    source = landing.app_source(spec)
    for testid in ("demo-title", "demo-cta", "demo-feature", "demo-band", "demo-footer"):
        assert f'data-testid="{testid}"' in source
    assert landing.LABEL in source
    assert landing.spec_from_source(source) == spec


@pytest.mark.parametrize(
    ("brief", "layout"),
    [
        ("A polished page for a cloud backup app", "split"),
        ("A basic page for a bakery", "centered"),
        ("An elegant editorial homepage for a photography studio", "editorial"),
        ("A page for a bakery", "split"),  # no direction: the default
    ],
)
def test_the_brief_or_a_direction_chooses_the_layout(brief, layout):
    assert landing.spec_from_brief(brief)["layout"] == layout


def test_the_layouts_are_structurally_different():
    sources = {
        layout: landing.app_source(landing.spec_from_brief(BAKERY, layout=layout))
        for layout in landing.LAYOUTS
    }
    heroes = {
        layout: src.split("function Hero()")[1].split("function ")[0]
        for layout, src in sources.items()
    }
    assert len(set(heroes.values())) == len(landing.LAYOUTS)
    assert "repeat(auto-fit" in heroes["split"]  # two columns
    assert 'textAlign: "center"' in heroes["centered"]
    assert "fontFamily: serif" in heroes["editorial"]
    # Each direction of one brief also speaks differently.
    headlines = {landing.spec_from_brief(BAKERY, layout=lay)["headline"] for lay in landing.LAYOUTS}
    assert len(headlines) == len(landing.LAYOUTS)
    with pytest.raises(ValueError, match="Unknown layout"):
        landing.spec_from_brief(BAKERY, layout="brutalist")


def test_a_brief_names_its_brand_colour_and_theme():
    spec = landing.spec_from_brief(
        "A dark page for a photography studio called Lumen. Make it purple."
    )
    assert spec["brand"] == "Lumen"
    assert spec["theme"] == "dark"
    assert spec["accent"] == landing.COLOURS["purple"]
    tea = landing.spec_from_brief(
        "A page for a green tea shop. Show today's teas and a loyalty counter."
    )
    assert tea["brand"] == "Green Tea Shop"
    assert [f["title"] for f in tea["features"][:2]] == ["Today's teas", "Loyalty counter"]


def test_make_the_header_blue_changes_only_the_header_colour():
    spec = landing.spec_from_brief(BAKERY)
    blue = landing.apply_follow_up(spec, "make the header blue")

    assert landing.describe_changes(spec, blue) == ["header colour: default → blue (#2563eb)"]
    assert spec["header_color"] is None  # the old spec is left alone
    lines = changed_lines(landing.app_source(spec), landing.app_source(blue))
    assert lines == ['-  "header_color": null,', '+  "header_color": "#2563eb",']


@pytest.mark.parametrize(
    ("request_", "key", "value"),
    [
        (
            'change the headline to "Bread worth waking up for"',
            "headline",
            "Bread worth waking up for",
        ),
        ("make the button say Book a box", "cta", "Book a box"),
        ("rename it to Maison Pain", "brand", "Maison Pain"),
        ("make it dark", "theme", "dark"),
        ("use the editorial layout", "layout", "editorial"),
        ("make the buttons green", "accent", landing.COLOURS["green"]),
        ("make the headline red", "headline_color", landing.COLOURS["red"]),
    ],
)
def test_each_follow_up_changes_its_one_field(request_, key, value):
    spec = landing.spec_from_brief(BAKERY)
    new = landing.apply_follow_up(spec, request_)
    assert new[key] == value
    changed = {k for k in set(spec) | set(new) if spec.get(k) != new.get(k)}
    assert changed <= {key, "footer"}  # a new brand name is in the footer too


def test_sections_are_added_and_removed():
    spec = landing.spec_from_brief(BAKERY)
    more = landing.apply_follow_up(spec, "add testimonials, pricing and faq")
    assert more["sections"] == [
        "header", "hero", "features", "testimonials", "pricing", "faq", "band", "footer"
    ]  # fmt: skip
    assert more["testimonials"] and more["pricing"] and more["faq"]
    less = landing.apply_follow_up(more, "remove the pricing section and drop the band")
    assert "pricing" not in less["sections"] and "band" not in less["sections"]
    source = landing.app_source(less)
    assert landing.spec_from_source(source)["sections"] == less["sections"]


def test_several_asks_in_one_request_and_unknown_ones():
    spec = landing.spec_from_brief(BAKERY)
    new = landing.apply_follow_up(spec, "make the header blue and the buttons green")
    assert new["header_color"] == landing.COLOURS["blue"]
    assert new["accent"] == landing.COLOURS["green"]
    assert landing.apply_follow_up(spec, "what do you think of it?") == spec
    assert landing.describe_changes(spec, spec) == []


@pytest.mark.parametrize(
    "request_",
    [
        "A landing page for a bakery",
        "Make a landing page for a bakery",
        "A dark dashboard for a green tea shop",
        "An elegant homepage for a studio called Lumen",
    ],
)
def test_what_reads_as_a_new_brief(request_):
    assert landing.reads_as_brief(request_)


@pytest.mark.parametrize(
    "request_",
    [
        "make the header blue",
        "Please add a pricing section",
        "make the button say Book for two",
        "use the editorial layout for the page",
        "A darker header, please",
    ],
)
def test_what_reads_as_a_change(request_):
    assert not landing.reads_as_brief(request_)
    assert landing.spec_from_source("export default function App() {}") is None
