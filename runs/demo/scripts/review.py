"""A reviewer ("Review only" in its instructions): read the files of its scope with line
numbers, then report the problems it recognises in them, each with file:line and a fix.

Nothing is hard-coded about the sample repository: the findings come from rules matched against
the lines `grep -n` printed from the sandbox, so an edited file moves (or drops) its findings.
One tool call per model call, like the workspace script: list the files, read them, answer.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from agents.items import TResponseOutputItem

from ..responses import exec_call, message_item, reasoning_item
from ..turn import Turn, command_output, listed_files
from .review_runtime import parse_probes, probe_command, runtime_findings
from .workspace import LABEL, LOOK

LOOK_CALL, READ_CALL, ANSWER = "demo-review-look", "demo-review-read", "demo-review-answer"
PROBE_CALL = "demo-review-probe"
RUNTIME_WORDS = {"probe", "probes", "runtime"}
MAX_FILES = 14
SOURCE_SUFFIXES = (".py", ".js", ".jsx", ".ts", ".tsx", ".html", ".json", ".txt", ".md", ".toml")
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
# A finding line, as lanes report it and the demo coordinator reads it back.
FINDING = re.compile(
    r"^- \[(?P<severity>high|medium|low)\] (?P<file>[^\s:]+):(?P<line>\d+) — "
    r"(?P<finding>.+?) Fix: (?P<fix>.+)$",
    re.M,
)


def handles(turn: Turn) -> bool:
    return "exec_command" in turn.tool_names and "review only" in turn.instructions.lower()


@dataclass(frozen=True)
class Finding:
    severity: str
    file: str
    line: int
    finding: str
    fix: str

    def line_text(self) -> str:
        return f"- [{self.severity}] {self.file}:{self.line} — {self.finding} Fix: {self.fix}"


Lines = list[tuple[int, str]]  # (line number, text) of one file


def _each(pattern: str, flags: int = 0) -> Callable[[Lines], Iterator[int]]:
    compiled = re.compile(pattern, flags)
    return lambda lines: (n for n, text in lines if compiled.search(text))


def _effects_without_deps(lines: Lines) -> Iterator[int]:
    """useEffect(...) blocks closed by `});` without a dependency array."""
    opened = None
    for n, text in lines:
        if "useEffect(" in text:
            opened = n
        elif opened is not None and re.match(r"\s*\}\s*,\s*\[", text):
            opened = None
        elif opened is not None and re.match(r"\s*\}\);\s*$", text):
            yield opened
            opened = None


def _items_without_key(lines: Lines) -> Iterator[int]:
    """`.map(` followed within two lines by an element without a key."""
    for index, (_, text) in enumerate(lines):
        if ".map(" in text:
            for n, following in lines[index + 1 : index + 3]:
                if re.search(r"<(li|tr|div|option)\b", following) and "key=" not in following:
                    yield n
                    break


def _writes_without_commit(lines: Lines) -> Iterator[int]:
    """An INSERT/UPDATE/DELETE in a function that never calls commit()."""
    for index, (n, text) in enumerate(lines):
        if re.search(r"execute\(\s*[\"'](DELETE|UPDATE|INSERT)", text, re.I):
            rest = []
            for _, later in lines[index + 1 :]:
                if re.match(r"(@|def |class )", later):
                    break
                rest.append(later)
            if not any("commit(" in later for later in rest):
                yield n


def _unchecked_json(lines: Lines) -> Iterator[int]:
    """A JSON body read and indexed without any check of its fields."""
    for index, (n, text) in enumerate(lines):
        if match := re.search(r"(\w+)\s*=\s*(?:request|self)\.get_json\(\)", text):
            name = match[1]
            body = [later for _, later in lines[index + 1 : index + 12]]
            checked = any(re.search(rf"\bif\b.*\b{name}\b|validate|schema", b) for b in body)
            if not checked and any(f"{name}[" in b for b in body):
                yield n


@dataclass(frozen=True)
class Rule:
    suffixes: tuple[str, ...]
    severity: str
    finding: str
    fix: str
    lines: Callable[[Lines], Iterator[int]]
    scopes: tuple[str, ...] = ("code",)  # code: frontend/backend lanes; repo: the tree lane


RULES = [
    Rule(
        (".py",),
        "high",
        "Debug mode is on (debug=True): errors answer with tracebacks, debug pages are served.",
        "Read debug from the environment and keep it off in production.",
        _each(r"debug\s*=\s*True"),
    ),
    Rule(
        (".py", ".js", ".jsx", ".ts", ".tsx", ".json", ".toml"),
        "high",
        "A secret is hard-coded in the source: anyone with the repository can sign sessions.",
        "Load it from an environment variable or a secret store, and rotate this one.",
        _each(
            r"(SECRET|PASSWORD|PASSWD|TOKEN|API_KEY)\w*[\"'\]]*\s*[=:]\s*[\"'][^\"']{4,}[\"']",
            re.I,
        ),
        scopes=("code", "repo"),
    ),
    Rule(
        (".py",),
        "high",
        "SQL is built from strings (an f-string with request input): SQL injection.",
        "Pass the values as parameters: execute('… LIKE ?', (f'%{query}%',)).",
        _each(r"f[\"'].*\b(SELECT|INSERT|UPDATE|DELETE)\b.*\{", re.I),
    ),
    Rule(
        (".py",),
        "medium",
        "Missing input validation: the JSON body is indexed unchecked (a missing field is a 500, "
        "any type is stored).",
        "Validate the body (required fields, types, lengths) and answer 400 with the reason.",
        _unchecked_json,
    ),
    Rule(
        (".py",),
        "medium",
        "A write is never committed: the change is lost when the connection closes.",
        "Call connection.commit() (or use the connection as a context manager).",
        _writes_without_commit,
    ),
    Rule(
        (".jsx", ".tsx", ".js", ".ts"),
        "high",
        "dangerouslySetInnerHTML renders stored text as HTML: stored XSS.",
        "Render the text as a child ({note.title}); sanitise if HTML is really needed.",
        _each(r"dangerouslySetInnerHTML"),
    ),
    Rule(
        (".jsx", ".tsx"),
        "medium",
        "useEffect has no dependency array: it refetches after every render, in a loop.",
        "Add the dependencies ([query]) so it runs when they change.",
        _effects_without_deps,
    ),
    Rule(
        (".jsx", ".tsx"),
        "low",
        "List items are rendered without a key.",
        "Give each item a stable key (key={note.id}).",
        _items_without_key,
    ),
    Rule(
        (".js", ".jsx", ".ts", ".tsx"),
        "medium",
        "User input goes into a URL unencoded (?q=${query}): '&' or '#' break the request.",
        "Encode it: encodeURIComponent(query), or build the URL with URLSearchParams.",
        _each(r"\?\w+=\$\{"),
    ),
    Rule(
        (".js", ".jsx", ".ts", ".tsx"),
        "low",
        "The API's base URL is hard-coded to localhost: the app only works on one machine.",
        "Read it from configuration (import.meta.env.VITE_API_URL) or use a relative path.",
        _each(r"[\"'`]https?://(localhost|127\.0\.0\.1)"),
    ),
    Rule(
        ("requirements.txt",),
        "low",
        "A dependency is not pinned: installs differ from machine to machine.",
        "Pin exact versions (pytest==8.4.2), ideally with hashes.",
        _each(r"^\s*[A-Za-z][\w.-]*\s*$"),
        scopes=("repo",),
    ),
    Rule(
        ("package.json",),
        "low",
        "Dependencies use caret ranges without a lockfile in the repository.",
        "Commit package-lock.json (or pin exact versions).",
        _each(r"\"\^\d"),
        scopes=("repo",),
    ),
]


def scope_of(request: str) -> tuple[str, str]:
    """(path prefix to read, rule scope) from what the lane was asked: its own part (a
    coordinator puts it last, after the shared task) before the whole request."""
    for text in (request.strip().rsplit("\n\n", 1)[-1], request):
        words = set(re.findall(r"[a-z]+", text.lower()))
        for prefix in ("frontend", "backend"):
            if prefix in words:
                return f"{prefix}/", "code"
        if words & {"tree", "readme", "changelog", "dependency", "dependencies", "gitignore"}:
            return "", "repo"
    return "", "code"


def wants_runtime(request: str) -> bool:
    """A lane asked to run and probe what it reviews (its own part of the request)."""
    own = request.strip().rsplit("\n\n", 1)[-1]
    return bool(set(re.findall(r"[a-z]+", own.lower())) & RUNTIME_WORDS)


def chosen_files(files: list[str], request: str) -> list[str]:
    prefix, _ = scope_of(request)
    picked = [
        f
        for f in files
        if f.startswith(prefix) and (f.endswith(SOURCE_SUFFIXES) or "." not in f.rsplit("/", 1)[-1])
    ]
    return picked[:MAX_FILES]


def parse_numbered(output: str) -> dict[str, Lines]:
    """`grep -n '' a b` output ("a:3:text") as each file's numbered lines."""
    found: dict[str, Lines] = {}
    for raw in command_output(output).splitlines():
        if match := re.match(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<text>.*)$", raw):
            found.setdefault(match["file"], []).append((int(match["line"]), match["text"]))
    return found


def findings_in(files: dict[str, Lines], scope: str) -> list[Finding]:
    found = []
    for path, lines in files.items():
        for rule in RULES:
            if scope in rule.scopes and path.endswith(rule.suffixes):
                found += [
                    Finding(rule.severity, path, n, rule.finding, rule.fix)
                    for n in rule.lines(lines)
                ]
    return sorted(found, key=lambda f: (SEVERITY_ORDER[f.severity], f.file, f.line))


def plan(turn: Turn) -> list[TResponseOutputItem]:
    outputs = turn.outputs
    if LOOK_CALL not in outputs:
        intent = (
            "Offline demo reviewer: list the repository, read the files of my scope with line "
            "numbers, and report what I recognise in them, with file:line and a fix."
        )
        return [reasoning_item(intent, f"{LOOK_CALL}-plan"), exec_call(LOOK, LOOK_CALL)]
    files = listed_files(outputs[LOOK_CALL])
    chosen = chosen_files(files, turn.request)
    if READ_CALL not in outputs:
        if not chosen:
            return [message_item(f"I found no files to review. {LABEL}", ANSWER)]
        quoted = " ".join(shlex.quote(f) for f in chosen)
        return [exec_call(f"grep -n '' {quoted}", READ_CALL)]
    read = parse_numbered(outputs[READ_CALL])
    prefix, scope = scope_of(turn.request)
    runtime = prefix == "backend/" and wants_runtime(turn.request)
    if runtime and PROBE_CALL not in outputs:
        intent = "Run the API in backend/, probe it with hostile requests, then stop it."
        return [
            reasoning_item(intent, f"{PROBE_CALL}-plan"),
            exec_call(probe_command(), PROBE_CALL),
        ]
    findings = findings_in(read, scope)
    if runtime:
        observed = runtime_findings(read, parse_probes(outputs[PROBE_CALL]))
        findings = sorted(
            findings + [Finding(s, f, n, text, fix) for s, (f, n), text, fix in observed],
            key=lambda f: (SEVERITY_ORDER[f.severity], f.file, f.line),
        )
    lines = [
        f"Reviewed {len(read)} file(s): {', '.join(read)} "
        f"({sum(len(v) for v in read.values())} lines)."
    ]
    if findings:
        lines.append(f"Findings, most severe first ({len(findings)}):")
        lines += [finding.line_text() for finding in findings]
    else:
        lines.append("No findings: nothing I recognise as a problem in these files.")
    lines.append(LABEL)
    return [message_item("\n".join(lines), ANSWER)]
