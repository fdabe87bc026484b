"""On a workspace: on the Vite starter build a landing page from the request (runs/demo/landing.py)
and, on a follow-up, change only what the follow-up asks; elsewhere read the files the request
points at and report what they contain.

It works like a careful agent, one tool call per model call: list the workspace (skipped on a
follow-up: the first turn's listing is in the conversation), read src/App.tsx, patch it with the
smallest diff, verify the patch landed, answer. It reads the conversation too: earlier requests
(a follow-up on a page built by hand starts from the first brief) and earlier reads of App.tsx
("undo" restores the page as it was before the last change). A call a person rejected is
reported, and the file is left as it is.
"""

from __future__ import annotations

import difflib
import re
import shlex

from agents.items import TResponseOutputItem

from .. import landing
from ..responses import exec_call, message_item, patch_call, reasoning_item
from ..turn import Turn, command_output, listed_files

APP_FILE = "src/App.tsx"
BEGIN, END = "<<<DEMO-FILE", "DEMO-FILE>>>"
LOOK = "pwd && ls -la && find . -path ./node_modules -prune -o -type f -print | sort | head -n 80"
UNDO_WORDS = {"undo", "revert"}
LABEL = "(Offline demo model: a deterministic script, not an LLM.)"


def handles(turn: Turn) -> bool:
    return "exec_command" in turn.tool_names


class Calls:
    """This turn's call ids: unique across the conversation's history."""

    def __init__(self, turn: Turn) -> None:
        suffix = f"-{turn.number}" if turn.number > 1 else ""
        self.look, self.read = f"demo-look{suffix}", f"demo-read{suffix}"
        self.patch, self.verify = f"demo-patch{suffix}", f"demo-verify{suffix}"
        self.answer = f"demo-answer{suffix}"


def relevant_files(files: list[str], prompt: str, count: int = 3) -> list[str]:
    """The files a request points at (by words of their paths), else the first ones."""
    words = {w for w in re.findall(r"[a-z0-9_]+", prompt.lower()) if len(w) > 2}

    def score(path: str) -> int:
        return sum(1 for part in re.findall(r"[a-z0-9_]+", path.lower()) if part in words)

    ranked = sorted(files, key=lambda f: -score(f))
    chosen = [f for f in ranked if score(f) > 0][:count]
    return chosen or files[:count]


def update_patch(path: str, old: str, new: str, context: int = 3) -> str:
    """An apply_patch that changes only the lines that differ, with a little context."""
    before, after = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    lines = ["*** Begin Patch", f"*** Update File: {path}"]
    for group in matcher.get_grouped_opcodes(context):
        lines.append("@@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [f" {line}" for line in before[i1:i2]]
                continue
            lines += [f"-{line}" for line in before[i1:i2]]
            lines += [f"+{line}" for line in after[j1:j2]]
    lines.append("*** End Patch")
    return "\n".join(lines) + "\n"


def rejected(output: str | None) -> bool:
    """Whether a tool output is a person's rejection rather than the tool's result."""
    return output is not None and ("rejected this call" in output or "not approved" in output)


def _between_markers(text: str) -> str | None:
    body = command_output(text)
    if BEGIN not in body or END not in body:
        return None
    return body.split(BEGIN + "\n", 1)[1].rsplit(END, 1)[0]


def _files(turn: Turn, calls: Calls) -> list[str] | None:
    """The workspace's files: from this turn's listing, else the conversation's latest one."""
    if calls.look in turn.outputs:
        output = turn.outputs[calls.look]
        return [] if rejected(output) else listed_files(output)
    for outputs in reversed(turn.earlier_outputs):
        for call, output in outputs.items():
            if call.startswith("demo-look") and not rejected(output):
                return listed_files(output)
    return None


class Page:
    """What this turn makes of App.tsx: the spec it finds, the one it writes, and why."""

    def __init__(self, turn: Turn, current: str) -> None:
        request = turn.request
        self.found = landing.spec_from_source(current)
        self.note = ""
        words = set(re.findall(r"[a-z]+", request.lower()))
        earlier = turn.earlier_requests
        if words & UNDO_WORDS and self.found is not None:
            self.kind, self.spec = "undo", self._before_last_change(turn)
            if self.spec is None:
                self.spec = self.found
                self.note = "There is no earlier version of the page in this conversation."
        elif self.found is not None and not landing.reads_as_brief(request):
            self.kind, self.spec = "follow-up", landing.apply_follow_up(self.found, request)
        elif landing.reads_as_brief(request) or not earlier:
            self.kind, self.spec = "new", landing.spec_from_brief(request)
        else:
            # A follow-up, but App.tsx is no longer a page of ours (edited by hand?): rebuild
            # it from the conversation's first brief, then apply the follow-up.
            brief = next((r for r in earlier if landing.reads_as_brief(r)), earlier[0])
            self.kind = "rebuilt"
            self.spec = landing.apply_follow_up(landing.spec_from_brief(brief), request)
            self.note = (
                f"{APP_FILE} was no longer the page from your first request, so I rebuilt it "
                f"from “{brief}” and applied this change to it."
            )
        self.changes = landing.describe_changes(self.found, self.spec) if self.found else []

    @staticmethod
    def _before_last_change(turn: Turn) -> dict | None:
        """The page as it was read at the start of the latest earlier turn that patched it."""
        for outputs in reversed(turn.earlier_outputs):
            patched = any(
                c.startswith("demo-patch") and not rejected(o) for c, o in outputs.items()
            )
            read = next((o for c, o in outputs.items() if c.startswith("demo-read")), None)
            if patched and read and (old := _between_markers(read)) is not None:
                return landing.spec_from_source(old)
        return None

    @property
    def unchanged(self) -> bool:
        return self.found is not None and self.spec == self.found


def plan(turn: Turn) -> list[TResponseOutputItem]:
    calls = Calls(turn)
    outputs = turn.outputs
    # A follow-up skips the listing: the conversation holds the first turn's.
    files = _files(turn, calls)
    if files is None:
        intent = (
            "Offline demo script: list the workspace; on the Vite starter, build the landing "
            "page the request describes in src/App.tsx and verify it; elsewhere, read the "
            "files the request points at and report what they contain."
        )
        return [reasoning_item(intent, f"{calls.look}-plan"), exec_call(LOOK, calls.look)]
    if rejected(outputs.get(calls.look)):
        return [message_item(_rejected_answer(turn, "listing the workspace"), calls.answer)]
    can_patch = "apply_patch" in turn.tool_names and APP_FILE in files
    if calls.read not in outputs:
        items: list[TResponseOutputItem] = []
        if calls.look not in outputs:
            items.append(
                reasoning_item(
                    f"Turn {turn.number} of this conversation. From turn 1 I know this is the "
                    f"Vite starter: read {APP_FILE} and change only what is asked.",
                    f"{calls.read}-plan",
                )
            )
        if can_patch:
            read = f"echo '{BEGIN}'; awk '{{print}}' {APP_FILE}; echo '{END}'"
        else:
            chosen = " ".join(shlex.quote(f) for f in relevant_files(files, turn.request))
            read = f'for f in {chosen or "."}; do echo "== $f"; head -n 20 "$f"; done'
        return [*items, exec_call(read, calls.read)]
    if rejected(outputs[calls.read]):
        return [message_item(_rejected_answer(turn, f"reading {APP_FILE}"), calls.answer)]
    current = _between_markers(outputs[calls.read]) if can_patch else None
    if current is None:
        return [message_item(_report(turn, files, outputs[calls.read]), calls.answer)]
    page = Page(turn, current)
    if calls.patch not in outputs:
        if page.unchanged:
            return [message_item(_answer(turn, page, patched=False, verified=False), calls.answer)]
        new = landing.app_source(page.spec)
        return [patch_call(update_patch(APP_FILE, current, new), calls.patch)]
    if rejected(outputs[calls.patch]):
        return [message_item(_rejected_answer(turn, f"the patch to {APP_FILE}"), calls.answer)]
    if calls.verify not in outputs:
        needle = page.spec["headline"] if page.kind != "follow-up" else _changed_value(page)
        verify = f"grep -cF {shlex.quote(needle)} {APP_FILE} && wc -l {APP_FILE}"
        return [exec_call(verify, calls.verify)]
    verified = not rejected(outputs[calls.verify]) and re.match(
        r"\s*[1-9]", command_output(outputs[calls.verify])
    )
    return [message_item(_answer(turn, page, patched=True, verified=bool(verified)), calls.answer)]


def _changed_value(page: Page) -> str:
    """A line of App.tsx only the new spec has, to check the patch landed."""
    old = landing.app_source(page.found or {}).splitlines() if page.found else []
    new = landing.app_source(page.spec).splitlines()
    added = [line.strip() for line in new if line not in set(old) and line.strip()]
    return (added or [page.spec["headline"]])[0][:120]


def _context(turn: Turn) -> str:
    if not turn.earlier_requests:
        return ""
    first = turn.earlier_requests[0]
    return f"Turn {turn.number} of this conversation (it began with “{first}”)."


def _answer(turn: Turn, page: Page, *, patched: bool, verified: bool) -> str:
    spec = page.spec
    lines = [line for line in [_context(turn)] if line]
    if page.note:
        lines.append(page.note)
    if not patched:
        lines.append(
            f"I did not change {APP_FILE}: I could not tell what to change from “{turn.request}”. "
            "This demo script understands colours (accent, header, headline, band, background), "
            "dark or light, gradient or flat, new headline / subline / button / brand text, the "
            f"layouts ({', '.join(landing.LAYOUTS)}), adding or removing sections "
            "(testimonials, pricing, FAQ, band, footer) and “undo”."
        )
    elif page.kind in ("follow-up", "undo") and page.changes:
        verb = "Undid the last change" if page.kind == "undo" else "Changed only what you asked"
        lines.append(f"{verb} in {APP_FILE}:")
        lines += [f"- {change}" for change in page.changes]
        lines.append("Everything else on the page is as it was.")
    else:
        sections = ", ".join(s for s in spec["sections"] if s not in ("header", "footer"))
        lines.append(
            f"I built a landing page for “{spec['brand']}” in {APP_FILE}: the {spec['layout']} "
            f"layout, {spec['theme']} theme, accent {landing._shown('accent', spec['accent'])}."
        )
        lines.append(f"Headline: “{spec['headline']}”; button: “{spec['cta']}”.")
        lines.append(
            "Features: "
            + ", ".join(f"“{f['title']}”" for f in spec["features"])
            + f". Sections: {sections}."
        )
        lines.append(
            "Follow up to change it, e.g. “make the header blue”, “use the editorial layout” or "
            "“add a pricing section”."
        )
    if patched:
        lines.append(
            "Verified: the change is in the file."
            if verified
            else "Warning: I could not verify the edit; check the patch output above."
        )
    lines.append(LABEL)
    return "\n".join(lines)


def _rejected_answer(turn: Turn, what: str) -> str:
    lines = [line for line in [_context(turn)] if line]
    lines.append(f"You rejected {what}, so I stopped there: {APP_FILE} is unchanged.")
    lines.append("Tell me what to do differently and I will try again.")
    lines.append(LABEL)
    return "\n".join(lines)


def _report(turn: Turn, files: list[str], read: str) -> str:
    lines = [line for line in [_context(turn)] if line]
    lines.append(
        f"Workspace: {len(files)} file(s) found ({', '.join(files[:8])}"
        f"{', …' if len(files) > 8 else ''})."
    )
    shown = command_output(read).strip().splitlines()
    lines.append(f"I read {min(3, len(files))} file(s); first lines:")
    lines += [f"  {line}" for line in shown[:12]]
    lines.append(LABEL)
    return "\n".join(lines)
