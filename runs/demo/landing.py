"""The offline demo model's landing-page generator (a script, no LLM).

A brief ("A landing page for a bakery in Lyon. List the croissants.") becomes a *spec*: a plain
JSON-able dict with the page's words, colours, layout and sections. `app_source(spec)` renders
it as the Vite starter's `src/App.tsx`: a real landing page (a header, a hero with headline,
subline and call-to-action button, a features section of three cards, a call-to-action band, a
footer, optional testimonials / pricing / FAQ sections), in one of `LAYOUTS`, each structurally
different. Follow-ups edit the spec (`apply_follow_up`), so "make the header blue" changes one
value and nothing else; the spec is written into App.tsx as a JSON literal, so reading the file
back (`spec_from_source`) gives the current page.

Stable API (used by the demo's workspace script and by homepage directions):
    LAYOUTS, spec_from_brief(brief, *, layout=None), apply_follow_up(spec, request),
    app_source(spec); plus spec_from_source(source), describe_changes(old, new),
    reads_as_brief(request).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

LAYOUTS: tuple[str, ...] = ("split", "centered", "editorial")
SPEC_VERSION = 1
LABEL = "Built by the offline demo model (a script, no LLM)"

# Words of a brief (or an explicit direction) that choose a layout.
LAYOUT_WORDS: dict[str, tuple[str, ...]] = {
    "split": (
        "split",
        "two-column",
        "side-by-side",
        "polished",
        "modern",
        "sleek",
        "startup",
        "saas",
        "product",
        "app",
        "software",
    ),
    "centered": ("centered", "centred", "center", "basic", "simple", "minimal", "clean", "bold"),
    "editorial": (
        "editorial",
        "magazine",
        "elegant",
        "classic",
        "serif",
        "story",
        "journal",
        "luxury",
        "boutique",
        "artisan",
    ),
}

COLOURS: dict[str, str] = {
    "light blue": "#38bdf8",
    "sky blue": "#0ea5e9",
    "dark blue": "#1e3a8a",
    "navy": "#1e3a8a",
    "dark green": "#14532d",
    "light green": "#4ade80",
    "dark red": "#991b1b",
    "red": "#dc2626",
    "crimson": "#be123c",
    "orange": "#ea580c",
    "amber": "#d97706",
    "yellow": "#ca8a04",
    "gold": "#b45309",
    "lime": "#65a30d",
    "green": "#16a34a",
    "emerald": "#059669",
    "teal": "#0d9488",
    "cyan": "#0891b2",
    "blue": "#2563eb",
    "indigo": "#4f46e5",
    "violet": "#7c3aed",
    "purple": "#9333ea",
    "magenta": "#c026d3",
    "pink": "#db2777",
    "rose": "#e11d48",
    "brown": "#92400e",
    "black": "#111827",
    "grey": "#4b5563",
    "gray": "#4b5563",
    "white": "#ffffff",
}
COLOUR_NAMES = {hex_: name for name, hex_ in reversed(COLOURS.items())}
# Longest names first, so "light blue" is found before "blue".
_COLOUR_PATTERN = re.compile(
    r"\b(" + "|".join(sorted((re.escape(c) for c in COLOURS), key=len, reverse=True)) + r")\b"
)

DARK_WORDS = {"dark", "night", "midnight", "moody", "noir"}

# What an optional section is called in requests, and its key in spec["sections"].
SECTION_NAMES: dict[str, tuple[str, ...]] = {
    "header": ("header", "navigation", "nav bar", "navbar", "top bar", "menu bar"),
    "features": ("features", "feature cards", "feature section", "cards"),
    "testimonials": ("testimonials", "testimonial", "reviews", "quotes"),
    "pricing": ("pricing", "prices", "plans", "price list"),
    "faq": ("faq", "questions", "q&a"),
    "band": ("call-to-action band", "cta band", "band", "banner", "call to action", "signup"),
    "footer": ("footer",),
}
DEFAULT_SECTIONS = ["header", "hero", "features", "band", "footer"]
SECTION_ORDER = ["header", "hero", "features", "testimonials", "pricing", "faq", "band", "footer"]

# --- what a brief is about -----------------------------------------------------------------------

# Domains: the words that recognise one, and copy in its voice. {brand} and {place} are filled
# in; "headlines" has one per layout (split, centered, editorial).
DOMAINS: dict[str, dict[str, Any]] = {
    "bakery": {
        "words": ("bakery", "bakeries", "bread", "pastry", "pastries", "croissant", "croissants"),
        "accent": "#b45309",
        "headlines": (
            "Baked fresh every morning{in_place}",
            "Real bread. Baked at dawn.",
            "The slow craft of good bread",
        ),
        "subline": "Sourdough, viennoiserie and seasonal tarts from {brand}, out of the oven "
        "before the city wakes up.",
        "cta": "Order for pickup",
        "features_title": "What comes out of our oven",
        "features": [
            ("Naturally leavened", "Our sourdough rises for 36 hours. No shortcuts, no additives."),
            ("Butter croissants", "Laminated by hand with French butter, baked every hour."),
            ("Pickup in minutes", "Order before 9 and your box is waiting at the counter."),
        ],
        "band": ("Fresh bread, no queue.", "Order tonight, pick it up warm tomorrow morning."),
        "band_cta": "Join the morning list",
    },
    "coffee": {
        "words": ("coffee", "cafe", "café", "espresso", "roastery", "roaster", "barista"),
        "accent": "#92400e",
        "headlines": (
            "Coffee worth slowing down for{in_place}",
            "Roasted this week. Poured today.",
            "A quieter kind of coffee house",
        ),
        "subline": "Single-origin beans roasted in small batches by {brand}, brewed the way "
        "the farmer would want.",
        "cta": "Find your blend",
        "features_title": "Why people come back",
        "features": [
            ("Small-batch roasts", "Every bag is roasted within seven days of reaching you."),
            ("Direct from farms", "We know the growers by name and pay above fair-trade."),
            ("Brewed with care", "Baristas who weigh, time and taste every cup."),
        ],
        "band": ("Your first bag is on us.", "Subscribe and get fresh beans every other week."),
        "band_cta": "Start a subscription",
    },
    "tea": {
        "words": ("tea", "teas", "matcha", "teahouse", "chai"),
        "accent": "#15803d",
        "headlines": (
            "Loose-leaf tea, brewed properly{in_place}",
            "Steep. Sip. Breathe.",
            "Leaves with a story to tell",
        ),
        "subline": "Hand-picked green, black and oolong teas from {brand}, with a new "
        "harvest on the shelf every season.",
        "cta": "Browse today's teas",
        "features_title": "On the shelf",
        "features": [
            ("First-flush greens", "Spring harvests from small gardens, shipped within weeks."),
            ("Tasting flights", "Three teas side by side, guided by someone who loves them."),
            ("Loyalty cups", "Every tenth pot is on the house."),
        ],
        "band": ("A new harvest every season.", "Get a note when the next first flush lands."),
        "band_cta": "Tell me first",
    },
    "restaurant": {
        "words": (
            "restaurant",
            "bistro",
            "diner",
            "pizza",
            "pizzeria",
            "kitchen",
            "food",
            "brasserie",
            "sushi",
        ),
        "accent": "#b91c1c",
        "headlines": (
            "Seasonal plates, shared tables{in_place}",
            "Come hungry. Leave happy.",
            "A kitchen that follows the seasons",
        ),
        "subline": "{brand} cooks what the market brings in that morning, for lunch, dinner "
        "and long Sunday tables.",
        "cta": "Book a table",
        "features_title": "At the table",
        "features": [
            ("Market menu", "Rewritten every week around what the growers bring us."),
            ("Natural wines", "A short list from small vineyards, poured by the glass."),
            ("Private dining", "A room for twelve for the evenings that matter."),
        ],
        "band": ("Tables go fast on weekends.", "Book now and we'll keep the bread warm."),
        "band_cta": "Reserve now",
    },
    "fitness": {
        "words": ("gym", "fitness", "yoga", "pilates", "workout", "training", "crossfit"),
        "accent": "#ea580c",
        "headlines": (
            "Train smarter, feel stronger{in_place}",
            "Stronger every week.",
            "Movement, made a habit",
        ),
        "subline": "Small classes, real coaches and a plan that fits your week, at {brand}.",
        "cta": "Start your free week",
        "features_title": "How we train",
        "features": [
            ("Small classes", "Never more than ten people, so a coach sees every rep."),
            ("Plans that adapt", "Your program changes as you get stronger."),
            ("Open early", "Doors open at 6, because mornings are yours."),
        ],
        "band": ("Your first week is free.", "No contract, no pressure, just show up."),
        "band_cta": "Claim my week",
    },
    "software": {
        "words": (
            "app",
            "saas",
            "software",
            "platform",
            "tool",
            "startup",
            "dashboard",
            "api",
            "product",
        ),
        "accent": "#4f46e5",
        "headlines": (
            "{brand}, without the busywork",
            "Ship faster. Worry less.",
            "The calm way to get work done",
        ),
        "subline": "{brand} brings your team's work into one place, so the next step is "
        "always obvious.",
        "cta": "Start free",
        "features_title": "Everything in one place",
        "features": [
            ("Set up in minutes", "Import what you have and be productive the same day."),
            ("Works with your tools", "Connects to the services your team already uses."),
            ("Secure by default", "Encryption, audit logs and single sign-on included."),
        ],
        "band": ("Try it with your team.", "Free for 14 days, no credit card needed."),
        "band_cta": "Create an account",
    },
    "shop": {
        "words": ("shop", "store", "boutique", "market", "goods", "clothing", "fashion"),
        "accent": "#db2777",
        "headlines": (
            "Things made to last{in_place}",
            "Made well. Chosen carefully.",
            "A small shop with a long memory",
        ),
        "subline": "{brand} stocks a short list of well-made things from people we know.",
        "cta": "Shop the collection",
        "features_title": "Why shop with us",
        "features": [
            ("Made by people we know", "Every maker visited, every material traced."),
            ("Free returns", "Thirty days to change your mind, on us."),
            ("Wrapped by hand", "Gifts leave the shop ready to give."),
        ],
        "band": ("New pieces every Friday.", "Be the first to see what just arrived."),
        "band_cta": "Get the Friday note",
    },
    "creative": {
        "words": (
            "agency",
            "design",
            "portfolio",
            "photographer",
            "photography",
            "architect",
            "artist",
            "designer",
            "studio",
        ),
        "accent": "#7c3aed",
        "headlines": (
            "Design that moves people{in_place}",
            "Ideas, made visible.",
            "Work we are proud to sign",
        ),
        "subline": "{brand} is a small studio for brands, spaces and stories that want to be "
        "remembered.",
        "cta": "Start a project",
        "features_title": "What we do",
        "features": [
            ("Brand identity", "Names, marks and systems that hold up everywhere."),
            ("Digital products", "Sites and apps people enjoy coming back to."),
            ("Art direction", "Photography and film with a point of view."),
        ],
        "band": ("Have something in mind?", "Tell us about it; we answer within a day."),
        "band_cta": "Say hello",
    },
}
GENERIC: dict[str, Any] = {
    "accent": "#4f46e5",
    "headlines": (
        "{brand}, done right{in_place}",
        "Made for people who care.",
        "A better way to {verb}",
    ),
    "subline": "{brand} takes care of the details, so you can get on with what matters.",
    "cta": "Get started",
    "features_title": "Why {brand}",
    "features": [
        ("Thoughtfully made", "Every detail considered, nothing added for show."),
        ("Friendly people", "Real humans who answer when you write."),
        ("Ready when you are", "Start today; it takes a few minutes."),
    ],
    "band": ("Ready when you are.", "It takes a minute to get started."),
    "band_cta": "Get started",
}
# Texts for feature cards named by the brief ("List the croissants"): {item} is the phrase.
ITEM_TEXTS = (
    "{item}, chosen with care and ready when you are.",
    "Everything about {item_lower}, in one place and always up to date.",
    "Ask us about {item_lower}: we love talking about it.",
)

COLOUR_WORDS = {w for name in COLOURS for w in name.split()}
PAGE_WORDS = {
    "a",
    "an",
    "the",
    "my",
    "our",
    "landing",
    "page",
    "homepage",
    "home",
    "website",
    "site",
    "web",
    "one",
    "pager",
    "make",
    "build",
    "create",
    "design",
    "write",
    "please",
    "it",
    "this",
    "that",
    "for",
    "with",
    "of",
    "and",
    *DARK_WORDS,
    "light",
    "bright",
    "basic",
    "polished",
    "modern",
    "sleek",
    "fancy",
    "beautiful",
    "pretty",
    "simple",
    "minimal",
    "clean",
    "bold",
    "elegant",
    "classic",
    "editorial",
    "new",
    "nice",
    "cool",
    "colourful",
    "colorful",
    *COLOUR_WORDS,
}
ITEM_TRIGGERS = (
    r"list(?:ing)?",
    r"show(?:ing|case)?",
    r"feature(?:s|ing)?",
    r"highlight(?:s|ing)?",
    r"offer(?:s|ing)?",
    r"sell(?:s|ing)?",
    r"include(?:s)?",
    r"including",
    r"with",
    r"has",
    r"add",
)
_ITEMS = re.compile(r"\b(?:" + "|".join(ITEM_TRIGGERS) + r")\b\s+(?P<items>[^.;!?\n]+)", re.I)
_SUBJECT = re.compile(
    r"\b(?:for|about)\s+(?:(?:an?|the|my|our)\s+)?(?P<subject>[^.,;:!?\n]+)", re.IGNORECASE
)
_NAMED = re.compile(
    r"\b(?:called|named)\s+[\"“']?(?P<name>[A-Z0-9][\w&' -]{0,40}?)[\"”']?"
    r"(?=[.,;!?\n]|$| in | for | with )"
)
_QUOTED = re.compile(r"[\"“]([^\"”]{1,120})[\"”]")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-zà-ÿ0-9&'-]+", text.lower())


def _title(text: str) -> str:
    small = {"a", "an", "and", "the", "of", "in", "on", "at", "for", "to", "by"}
    words = text.split()
    return " ".join(
        w if (i and w.lower() in small) or w[:1].isupper() else w[:1].upper() + w[1:]
        for i, w in enumerate(words)
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,.;:-") + "…"


def _domain(words: set[str], subject: str) -> dict[str, Any]:
    """The domain the brief's subject names (else any of its words), or GENERIC."""
    for pool in (set(_words(subject)), words):
        for domain in DOMAINS.values():
            if pool & set(domain["words"]):
                return domain
    return GENERIC


def _subject(brief: str) -> tuple[str, str]:
    """What the page is for and where, from the brief: ("green tea shop", "Kyoto")."""
    match = _SUBJECT.search(brief)
    if match:
        subject = match["subject"]
    else:
        subject = " ".join(w for w in _words(brief) if w not in PAGE_WORDS)
    subject = re.split(
        r"\b(?:with|that|which|where|featuring|listing|showing|who|and|called|named)\b",
        subject,
        maxsplit=1,
    )[0]
    place = ""
    if found := re.search(r"\b(?:in|from|at)\s+(?P<place>[A-Z][\w' -]*)", subject):
        place = found["place"].strip()
        subject = subject[: found.start()]
    # Colour words stay in a subject named after "for" ("a green tea shop").
    drop = PAGE_WORDS - COLOUR_WORDS if match else PAGE_WORDS
    kept = [w for w in subject.split() if w.lower() not in drop]
    return " ".join(kept[:5]).strip(" -'"), place


def _brand(brief: str, subject: str, place: str) -> str:
    if found := _NAMED.search(brief):
        return _clip(found["name"].strip(), 40)
    if not subject:
        return "Your brand"
    first = subject.split()[0]
    if first[:1].isupper() and not brief.startswith(first):
        return _clip(subject, 40)  # a name: "for Nimbus, a cloud backup app"
    core = _title(subject)
    if len(core.split()) == 1:
        return f"{place} {core}".strip() if place else f"The {core}"
    return _clip(core, 40)


def _items(brief: str) -> list[str]:
    """Things the brief asks the page to show ("List the croissants" → ["Croissants"])."""
    found: list[str] = []
    for match in _ITEMS.finditer(brief):
        for part in re.split(r",|\band\b|\bplus\b|&", match["items"]):
            words = [w for w in part.split() if w.lower() not in {"a", "an", "the", "our", "my"}]
            phrase = " ".join(words).strip(" '\"")
            if phrase and not set(_words(phrase)) <= PAGE_WORDS and len(phrase) <= 40:
                item = _sentence(phrase)
                if item.lower() not in {f.lower() for f in found}:
                    found.append(item)
    return found[:3]


def choose_layout(text: str, default: str = "split") -> str:
    """The layout a brief or direction names by one of its words, else `default`."""
    words = set(_words(text)) | {w.replace(" ", "-") for w in re.findall(r"\w+ \w+", text.lower())}
    for layout in LAYOUTS:
        if layout in words:
            return layout
    for layout, triggers in LAYOUT_WORDS.items():
        if words & set(triggers):
            return layout
    return default


def spec_from_brief(brief: str, *, layout: str | None = None) -> dict:
    """A landing page's spec from a brief: its words, colours and layout.

    `layout` (one of LAYOUTS) overrides what the brief's words would choose.
    """
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}.")
    brief = " ".join(brief.split())
    words = set(_words(brief))
    subject, place = _subject(brief)
    domain = _domain(words, subject)
    brand = _brand(brief, subject, place)
    chosen = layout or choose_layout(brief)
    fill = {
        "brand": brand,
        "place": place,
        "in_place": f" in {place}" if place else "",
        "verb": (subject.split() or ["work"])[0],
    }
    items = _items(brief)
    features = [
        {"title": item, "text": ITEM_TEXTS[i].format(item=item, item_lower=item.lower())}
        for i, item in enumerate(items)
    ]
    for title, text in domain["features"]:
        if len(features) == 3:
            break
        if title.lower() not in {f["title"].lower() for f in features}:
            features.append({"title": title, "text": text})
    colours = _COLOUR_PATTERN.findall(brief.lower())
    band_title, band_text = domain["band"]
    quoted = _QUOTED.findall(brief)
    headline = quoted[0] if quoted else domain["headlines"][LAYOUTS.index(chosen)].format(**fill)
    return {
        "version": SPEC_VERSION,
        "layout": chosen,
        "theme": "dark" if words & DARK_WORDS else "light",
        "gradient": bool(
            words & {"polished", "gradient", "fancy", "beautiful", "sleek", "vibrant"}
        ),
        "accent": COLOURS[colours[0]] if colours else domain["accent"],
        "header_color": None,
        "headline_color": None,
        "band_color": None,
        "background": None,
        "brand": brand,
        "eyebrow": place or _title(subject) or brand,
        "headline": _clip(headline, 90),
        "subline": _clip(domain["subline"].format(**fill), 200),
        "cta": domain["cta"],
        "features_title": domain["features_title"].format(**fill),
        "features": features,
        "band_title": band_title,
        "band_text": band_text,
        "band_cta": domain["band_cta"],
        "footer": f"{brand}{f' · {place}' if place else ''}",
        "sections": list(DEFAULT_SECTIONS),
        "brief": _clip(brief, 500),
    }


# --- follow-ups ----------------------------------------------------------------------------------

EDIT_VERBS = {
    "make",
    "change",
    "set",
    "use",
    "turn",
    "switch",
    "add",
    "remove",
    "drop",
    "delete",
    "hide",
    "rename",
    "replace",
    "swap",
    "put",
    "give",
    "show",
    "bring",
    "undo",
    "revert",
    "try",
    "go",
    "paint",
    "colour",
    "color",
}


PAGE_NOUNS = (
    "page",
    "landing page",
    "homepage",
    "home page",
    "site",
    "website",
    "one-pager",
    "dashboard",
    "app",
    "portfolio",
    "storefront",
)
_BRIEF = re.compile(
    r"\b(?:" + "|".join(re.escape(n) for n in PAGE_NOUNS) + r")\s+(?:for|about|called|named)\b"
)


def reads_as_brief(request: str) -> bool:
    """Whether a request describes a page of its own ("A landing page for a bakery") rather
    than a change to the current one ("make the header blue", "add pricing for two")."""
    low = " ".join(request.lower().split())
    if _BRIEF.search(low):
        return True
    return bool(
        re.match(r"(?:an?|my|our)\b", low) and re.search(r"\b(?:for|about|called|named)\b", low)
    )


# Where a colour goes, by the words next to it.
COLOUR_TARGETS = (
    ("header_color", ("header", "nav", "navbar", "navigation", "top bar", "menu bar")),
    ("headline_color", ("headline", "heading", "title", "hero text")),
    ("band_color", ("band", "banner", "call-to-action", "call to action", "cta band", "signup")),
    ("accent", ("button", "buttons", "accent", "cta", "links", "highlight", "brand colour")),
)


def _clauses(request: str) -> list[str]:
    """A request split into its separate asks (quoted text kept whole)."""
    protected = _QUOTED.sub(lambda m: m.group(0).replace(",", "\0").replace(" and ", "\1"), request)
    parts = re.split(r"[;\n]|,|\.(?:\s|$)|\band then\b|\band\b|\balso\b", protected)
    return [p.replace("\0", ",").replace("\1", " and ").strip() for p in parts if p and p.strip()]


def _new_text(clause: str, original: str) -> str | None:
    """The text a clause asks for: quoted, else what follows "to"/"say"/"read"/":"."""
    if quoted := _QUOTED.search(clause):
        return quoted.group(1).strip()
    found = re.search(
        r"\b(?:to|say|says|read|reads|into|with)\b\s+(?P<text>.+)$|:\s*(?P<colon>.+)$", clause
    )
    if not found:
        return None
    text = (found["text"] or found["colon"]).strip(" '\"")
    # Unquoted text may have been cut at "and": take it from the original request instead.
    start = original.find(text)
    if start >= 0:
        rest = re.split(r"[.;\n]", original[start:], maxsplit=1)[0]
        text = rest.strip(" '\"")
    return text or None


TEXT_TARGETS = (
    ("headline", ("headline", "heading", "title", "hero text")),
    ("subline", ("subline", "subheading", "subtitle", "tagline", "sub-headline", "description")),
    ("band_cta", ("band button", "signup button", "band's button")),
    ("cta", ("button", "cta", "call to action text", "button text")),
    ("brand", ("brand", "name", "company", "logo text")),
    ("features_title", ("features title", "features heading", "section title")),
)


def _apply_clause(spec: dict, clause: str, original: str) -> None:
    low = clause.lower()
    words = set(_words(low))
    # Text: 'change the headline to "Bread worth waking up for"'.
    if (
        words & {"to", "say", "says", "read", "reads", "into"}
        or _QUOTED.search(clause)
        or ":" in clause
    ):
        for key, names in TEXT_TARGETS:
            if any(re.search(rf"\b{re.escape(n)}\b", low) for n in names):
                if key == "brand" and not re.search(r"\b(?:rename|call|brand|name|company)\b", low):
                    continue
                if (text := _new_text(clause, original)) and not _COLOUR_PATTERN.fullmatch(
                    text.lower()
                ):
                    limit = {"headline": 90, "subline": 200, "brand": 40}.get(key, 60)
                    spec[key] = _clip(text, limit)
                    if key == "brand":
                        spec["footer"] = _footer_with(spec, spec[key])
                    return
    if found := re.search(r"\b(?:rename it|call it|name it)\b\s+(?P<name>.+)$", clause, re.I):
        name = found["name"].removeprefix("to ").strip(" '\"")
        spec["brand"] = _clip(_new_text(f"to {name}", original) or name, 40)
        spec["footer"] = _footer_with(spec, spec["brand"])
        return
    # Sections: "add a pricing section", "remove the testimonials".
    adding = bool(words & {"add", "include", "show", "bring", "put"})
    removing = bool(words & {"remove", "drop", "delete", "hide", "without", "lose"})
    if adding or removing:
        for section, names in SECTION_NAMES.items():
            if any(re.search(rf"\b{re.escape(n)}\b", low) for n in names):
                _set_section(spec, section, present=adding and not removing)
                return
    # Layout: "use the editorial layout", "switch to centered".
    for layout in LAYOUTS:
        if re.search(rf"\b{layout}\b", low) or (
            words & {"layout", "style", "design", "look"} and words & set(LAYOUT_WORDS[layout])
        ):
            if words & {"layout", "use", "switch", "try", "make", "go", "change"}:
                spec["layout"] = layout
                return
    # Colours: "make the header blue", "buttons green".
    colours = _COLOUR_PATTERN.findall(low)
    if colours:
        hex_ = COLOURS[colours[-1]]
        if "background" in words:
            spec["background"] = hex_
            return
        for key, names in COLOUR_TARGETS:
            if any(re.search(rf"\b{re.escape(n)}\b", low) for n in names):
                spec[key] = hex_
                return
        if not words & DARK_WORDS or colours:
            spec["accent"] = hex_
            return
    # Theme: "make it dark", "dark mode", "light theme".
    if words & DARK_WORDS or "darker" in words:
        spec["theme"] = "dark"
        return
    if words & {"light", "bright", "lighter", "brighter"}:
        spec["theme"] = "light"
        return
    if "gradient" in words:
        spec["gradient"] = not (words & {"remove", "no", "without", "flat", "drop"})
        return
    if words & {"flat", "plain", "solid"}:
        spec["gradient"] = False


def _footer_with(spec: dict, brand: str) -> str:
    place = spec.get("footer", "").partition(" · ")[2]
    return f"{brand}{f' · {place}' if place else ''}"


def _set_section(spec: dict, section: str, *, present: bool) -> None:
    sections = [s for s in spec["sections"] if s != section]
    if present:
        sections.append(section)
        _fill_section(spec, section)
    spec["sections"] = sorted(sections, key=SECTION_ORDER.index)


def _fill_section(spec: dict, section: str) -> None:
    """Words for an optional section, made from the spec's own (once; edits keep them)."""
    brand = spec["brand"]
    titles = [f["title"] for f in spec["features"]] or ["it"]
    if section == "testimonials" and "testimonials" not in spec:
        spec["testimonials"] = [
            {
                "quote": f"{titles[0]} alone is worth the trip. {brand} gets it right.",
                "by": "Camille R.",
            },
            {"quote": f"I told three friends about {brand} this week.", "by": "Jonas M."},
            {"quote": "Honest, friendly and exactly what the page promises.", "by": "Priya S."},
        ]
    elif section == "pricing" and "pricing" not in spec:
        spec["pricing"] = [
            {"name": "Starter", "price": "€9", "detail": titles[0]},
            {"name": "Regular", "price": "€19", "detail": " + ".join(titles[:2])},
            {"name": "Everything", "price": "€29", "detail": "All of it, every week"},
        ]
    elif section == "faq" and "faq" not in spec:
        spec["faq"] = [
            {"q": f"What is {brand}?", "a": spec["subline"]},
            {"q": "How do I start?", "a": f"Press “{spec['cta']}”; it takes a minute."},
            {"q": "Can I change my mind?", "a": "Of course. Write to us any time."},
        ]


def apply_follow_up(spec: dict, request: str) -> dict:
    """The spec changed the way `request` asks, and only that; `spec` itself is left as is.

    Understands colours (accent, header, headline, band, background), dark/light, gradient or
    flat, headline / subline / button / brand text, layouts, and adding or removing sections.
    Anything else leaves the spec unchanged (compare with `describe_changes`).
    """
    new = copy.deepcopy(spec)
    verb = ""
    for clause in _clauses(request):
        first = (_words(clause) or [""])[0]
        if first in EDIT_VERBS:
            verb = first
        elif verb:
            clause = f"{verb} {clause}"  # "add testimonials, pricing and faq"
        _apply_clause(new, clause, request)
    return new


CHANGE_LABELS = {
    "layout": "layout",
    "theme": "theme",
    "gradient": "gradient",
    "accent": "accent colour",
    "header_color": "header colour",
    "headline_color": "headline colour",
    "band_color": "band colour",
    "background": "background colour",
    "brand": "brand name",
    "headline": "headline",
    "subline": "subline",
    "cta": "button text",
    "band_cta": "band button text",
    "features_title": "features title",
    "sections": "sections",
}


def _shown(key: str, value: Any) -> str:
    if value is None:
        return "default"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(value)
    if key.endswith("color") or key in {"accent", "background"}:
        name = COLOUR_NAMES.get(value)
        return f"{name} ({value})" if name else str(value)
    return f"“{value}”" if key not in {"layout", "theme"} else str(value)


def describe_changes(old: dict, new: dict) -> list[str]:
    """What differs between two specs, one readable line per changed field."""
    lines = []
    for key, label in CHANGE_LABELS.items():
        if old.get(key) != new.get(key):
            lines.append(f"{label}: {_shown(key, old.get(key))} → {_shown(key, new.get(key))}")
    return lines


# --- the page ------------------------------------------------------------------------------------

SPEC_START = "const page = "
SPEC_END = "; // end of page spec"


def spec_from_source(source: str) -> dict | None:
    """The spec an App.tsx written by `app_source` carries, or None for any other file."""
    start = source.find(SPEC_START)
    end = source.find(SPEC_END, start)
    if start < 0 or end < 0:
        return None
    try:
        spec = json.loads(source[start + len(SPEC_START) : end])
    except ValueError:
        return None
    if not isinstance(spec, dict) or spec.get("version") != SPEC_VERSION:
        return None
    return spec


def app_source(spec: dict) -> str:
    """src/App.tsx for the spec: the spec as a JSON literal, then the layout's components."""
    layout = spec.get("layout") if spec.get("layout") in LAYOUTS else LAYOUTS[0]
    body = json.dumps(spec, indent=2, ensure_ascii=False)
    head = _HEAD.replace("__LABEL_JSON__", json.dumps(LABEL)).replace("__LABEL__", LABEL)
    return head + SPEC_START + body + SPEC_END + "\n" + _part("common") + _part(layout) + _APP


PARTS = Path(__file__).with_name("landing_parts")
_HEAD = """import { useState } from "react";

// __LABEL__.
// The page is this spec: follow-up requests edit its values; the components below render it.
const LABEL = __LABEL_JSON__;
"""
_APP = """
const SECTIONS: Record<string, () => unknown> = {
  header: Header, hero: Hero, features: Features, testimonials: Testimonials,
  pricing: Pricing, faq: Faq, band: Band, footer: Footer,
};

export default function App() {
  return (
    <div data-testid="demo-page" data-layout={page.layout} data-theme={page.theme}
      style={{ minHeight: "100vh", background: c.bg, color: c.text, fontFamily: sans }}>
      {page.sections.filter((name) => SECTIONS[name]).map((name) => {
        const Section = SECTIONS[name] as () => JSX.Element;
        return <Section key={name} />;
      })}
    </div>
  );
}
"""


@functools.cache
def _part(name: str) -> str:
    return (PARTS / f"{name}.tsx").read_text()
