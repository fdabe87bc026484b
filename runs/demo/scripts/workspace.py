"""On a workspace: list it; on the Vite starter rewrite src/App.tsx so the page shows the
request (dark / polished / colour words change the look) and verify the edit; elsewhere read
the files the request points at and report what they contain."""

from __future__ import annotations

import json
import re
import shlex

from agents.items import TResponseOutputItem

from ..responses import exec_call, message_item, patch_call, reasoning_item
from ..turn import Turn, command_output, listed_files

APP_FILE = "src/App.tsx"
BEGIN, END = "<<<DEMO-FILE", "DEMO-FILE>>>"


def handles(turn: Turn) -> bool:
    return "exec_command" in turn.tool_names


THEMES = {
    "dark": ("#0f172a", "#e2e8f0", "#1e293b"),
    "polished": ("linear-gradient(135deg, #6366f1 0%, #ec4899 100%)", "#0f172a", "#ffffffee"),
    "basic": ("#ffffff", "#111827", "#f9fafb"),
}
ACCENTS = {
    "red": "#dc2626",
    "orange": "#ea580c",
    "yellow": "#ca8a04",
    "green": "#16a34a",
    "teal": "#0d9488",
    "blue": "#2563eb",
    "purple": "#9333ea",
    "pink": "#db2777",
}


def relevant_files(files: list[str], prompt: str, count: int = 3) -> list[str]:
    """The files a request points at (by words of their paths), else the first ones."""
    words = {w for w in re.findall(r"[a-z0-9_]+", prompt.lower()) if len(w) > 2}

    def score(path: str) -> int:
        return sum(1 for part in re.findall(r"[a-z0-9_]+", path.lower()) if part in words)

    ranked = sorted(files, key=lambda f: -score(f))
    chosen = [f for f in ranked if score(f) > 0][:count]
    return chosen or files[:count]


def page_style(prompt: str) -> dict[str, str]:
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    if words & {"dark", "night", "black"}:
        background, text, card = THEMES["dark"]
    elif words & {"polished", "fancy", "beautiful", "modern", "gradient", "pretty", "sleek"}:
        background, text, card = THEMES["polished"]
    else:
        background, text, card = THEMES["basic"]
    accent = next((ACCENTS[w] for w in ACCENTS if w in words), "#4f46e5")
    return {"background": background, "text": text, "card": card, "accent": accent}


def headline(prompt: str) -> str:
    first = re.split(r"(?<=[.!?])\s|\n", prompt.strip(), maxsplit=1)[0].strip()
    if len(first) > 70:
        first = first[:67].rstrip() + "…"
    return first or "Hello from the demo agent"


def app_source(prompt: str) -> str:
    style = page_style(prompt)
    return f"""import {{ useState }} from "react";

const title = {json.dumps(headline(prompt))};
const request = {json.dumps(prompt.strip())};

export default function App() {{
  const [count, setCount] = useState(0);
  return (
    <main style={{{{ minHeight: "100vh", margin: 0, display: "grid", placeItems: "center",
      background: "{style["background"]}", color: "{style["text"]}",
      fontFamily: "system-ui, sans-serif" }}}}>
      <section style={{{{ width: "min(640px, 88vw)", boxSizing: "border-box",
        padding: "2.5rem", borderRadius: 16,
        background: "{style["card"]}", boxShadow: "0 20px 45px rgba(0,0,0,0.18)" }}}}>
        <h1 data-testid="demo-title" style={{{{ color: "{style["accent"]}" }}}}>{{title}}</h1>
        <p>{{request}}</p>
        <button onClick={{() => setCount(count + 1)}}
          style={{{{ background: "{style["accent"]}", color: "white", border: 0,
            borderRadius: 8, padding: "0.6rem 1.2rem", fontSize: 16 }}}}>
          Clicked {{count}} {{count === 1 ? "time" : "times"}}
        </button>
        <p style={{{{ opacity: 0.7, fontSize: 14 }}}}>
          Edited by the offline demo agent (a script, no LLM).
        </p>
      </section>
    </main>
  );
}}
"""


def update_patch(path: str, old: str, new: str) -> str:
    lines = ["*** Begin Patch", f"*** Update File: {path}", "@@"]
    lines += [f"-{line}" for line in old.splitlines()]
    lines += [f"+{line}" for line in new.splitlines()]
    lines.append("*** End Patch")
    return "\n".join(lines) + "\n"


def _between_markers(text: str) -> str | None:
    body = command_output(text)
    if BEGIN not in body or END not in body:
        return None
    inner = body.split(BEGIN + "\n", 1)[1].rsplit(END, 1)[0]
    return inner


def plan(turn: Turn) -> list[TResponseOutputItem]:
    outputs = turn.outputs
    prompt = turn.prompt
    tool_names = turn.tool_names
    if "demo-look" not in outputs:
        plan = (
            "Offline demo script: list the workspace; if it is the Vite starter, rewrite "
            "src/App.tsx to reflect the request and verify it; otherwise read the files "
            "the request points at and report what they contain."
        )
        look = (
            "pwd && ls -la && find . -path ./node_modules -prune -o -type f -print "
            "| sort | head -n 80"
        )
        return [reasoning_item(plan, "demo-plan"), exec_call(look, "demo-look")]
    files = listed_files(outputs["demo-look"])
    can_patch = "apply_patch" in tool_names and APP_FILE in files
    if "demo-read" not in outputs:
        if can_patch:
            read = f"echo '{BEGIN}'; awk '{{print}}' {APP_FILE}; echo '{END}'"
        else:
            chosen = " ".join(shlex.quote(f) for f in relevant_files(files, prompt)) or "."
            read = f'for f in {chosen}; do echo "== $f"; head -n 20 "$f"; done'
        return [exec_call(read, "demo-read")]
    if can_patch and "demo-patch" not in outputs:
        old = _between_markers(outputs["demo-read"])
        if old is not None:
            return [patch_call(update_patch(APP_FILE, old, app_source(prompt)), "demo-patch")]
    if "demo-patch" in outputs and "demo-verify" not in outputs:
        verify = f"grep -n 'data-testid=\"demo-title\"' {APP_FILE} && wc -l {APP_FILE}"
        return [exec_call(verify, "demo-verify")]
    return [message_item(summary(prompt, files, outputs), "demo-answer")]


def summary(prompt: str, files: list[str], outputs: dict[str, str]) -> str:
    lines = [
        f"Workspace: {len(files)} file(s) found ({', '.join(files[:8])}"
        f"{', …' if len(files) > 8 else ''})."
    ]
    if "demo-patch" in outputs:
        verify = command_output(outputs.get("demo-verify", ""))
        landed = "demo-title" in verify
        style = page_style(prompt)
        lines.append(
            f"I rewrote {APP_FILE} so the page's heading reads “{headline(prompt)}”, "
            f"shows your full request, and uses accent colour {style['accent']}."
        )
        lines.append(
            "Verified: the new heading is in the file."
            if landed
            else "Warning: I could not verify the edit; check the patch output above."
        )
    else:
        read = command_output(outputs.get("demo-read", "")).strip().splitlines()
        lines.append(f"I read {min(3, len(files))} file(s); first lines:")
        lines += [f"  {line}" for line in read[:12]]
    lines.append("(Offline demo model: a deterministic script, not an LLM.)")
    return "\n".join(lines)
