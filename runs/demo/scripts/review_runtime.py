"""The runtime half of the demo reviewer: a backend lane asked to *run and probe* the API starts
the sample backend in its sandbox, sends it a few hostile requests, stops it, and reports what
the answers showed. File and line come from the files the lane read; the evidence is the
response the running server gave (status line and body, in the lane's log)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..turn import command_output

# (label, curl arguments after the base URL's path): each probe's answer is printed under its
# "=== label" line; the sequence ends with "=== stopped".
PROBES = [
    ("GET /api/notes?q='", '"$B/api/notes?q=%27"'),
    (
        "POST /api/notes {}",
        "-X POST -H 'Content-Type: application/json' -d '{}' \"$B/api/notes\"",
    ),
    ("GET /debug", '"$B/debug"'),
]
SECTION = re.compile(r"^=== (?P<label>.+)$", re.M)


def probe_command(directory: str = "backend") -> str:
    """One shell command: start the API on a free port, wait for it, probe, stop it."""
    free_port = (
        'python3 -c \'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); '
        "print(s.getsockname()[1])'"
    )
    steps = [
        f"cd {directory}",
        f"PORT=$({free_port})",
        'B="http://127.0.0.1:$PORT"',
        'echo "=== started: PORT=$PORT python3 app.py"',
        "PORT=$PORT python3 app.py > /tmp/notes-api-$PORT.log 2>&1 & pid=$!",
        'for i in $(seq 100); do curl -s -o /dev/null "$B/api/notes" && break; sleep 0.1; done',
    ]
    for label, args in PROBES:
        steps.append(f'echo "=== {label}"; curl -sS -i {args} | head -c 1800; echo')
    # Deleting a note it just added: is the delete kept?
    steps += [
        'echo "=== POST /api/notes (runtime-probe)"',
        "curl -sS -i -X POST -H 'Content-Type: application/json' "
        '-d \'{"title": "runtime-probe", "body": "x"}\' "$B/api/notes" | head -1',
        'id=$(curl -s "$B/api/notes?q=runtime-probe" | python3 -c '
        "'import json, sys; print(json.load(sys.stdin)[-1][\"id\"])')",
        'echo "=== DELETE /api/notes/$id"; curl -sS -i -X DELETE "$B/api/notes/$id" | head -1',
        'echo "=== GET /api/notes?q=runtime-probe"; curl -sS "$B/api/notes?q=runtime-probe"; echo',
        'kill $pid; wait $pid 2>/dev/null; echo "=== stopped"',
    ]
    return " && ".join(steps[:3]) + "; " + "; ".join(steps[3:])


@dataclass(frozen=True)
class Answer:
    label: str
    status: int | None
    body: str

    def error_line(self) -> str:
        """The exception a traceback ends with ("sqlite3.OperationalError: …")."""
        lines = [line for line in self.body.strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""


def parse_probes(output: str) -> dict[str, Answer]:
    """Each "=== label" section of the probe command's output, as status + body."""
    text = command_output(output)
    found: dict[str, Answer] = {}
    marks = list(SECTION.finditer(text))
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        chunk = text[mark.end() : following.start() if following else len(text)].strip("\n")
        status = re.search(r"^HTTP/\d(?:\.\d)? (\d{3})", chunk, re.M)
        body = chunk.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in chunk else chunk
        found[mark["label"]] = Answer(mark["label"], int(status[1]) if status else None, body)
    return found


Lines = list[tuple[int, str]]


def locate(files: dict[str, Lines], pattern: str) -> tuple[str, int] | None:
    compiled = re.compile(pattern)
    for path, lines in files.items():
        for n, text in lines:
            if compiled.search(text):
                return path, n
    return None


def runtime_findings(files: dict[str, Lines], answers: dict[str, Answer]) -> list[tuple]:
    """(severity, (file, line), finding, fix) for what the running API showed."""
    found = []
    injected = answers.get("GET /api/notes?q='")
    if injected and injected.status == 500:
        where = locate(files, r"f[\"'].*\bSELECT\b.*\{")
        leaked = "Traceback" in injected.body
        found.append(
            (
                "high",
                where,
                f"SQL injection confirmed at runtime: GET /api/notes?q=' returned 500"
                f"{' with a traceback' if leaked else ''} ({injected.error_line()[:120]}): the "
                "quote reached the SQL.",
                "Pass the search as a parameter (LIKE ?), never inside the SQL string.",
            )
        )
        if leaked:
            found.append(
                (
                    "high",
                    locate(files, r"debug\s*=\s*True"),
                    "Runtime: error answers show the server's traceback (file paths, code) to "
                    "any visitor — GET /api/notes?q=' returned it in a 500.",
                    "Turn debug off outside development; answer errors with a generic message.",
                )
            )
    empty = answers.get("POST /api/notes {}")
    if empty and empty.status is not None and empty.status >= 500:
        found.append(
            (
                "medium",
                locate(files, r"=\s*(?:request|self)\.get_json\(\)"),
                f"Missing input validation confirmed at runtime: POST /api/notes with {{}} "
                f"returned {empty.status} ({empty.error_line()[:120]}) instead of 400.",
                "Validate the body (required fields, types) and answer 400 with the reason.",
            )
        )
    debug = answers.get("GET /debug")
    if debug and debug.status == 200 and "SECRET_KEY" in debug.body:
        found.append(
            (
                "high",
                locate(files, r"[\"']/debug[\"']"),
                "Runtime: the debug page is public — GET /debug returned 200 with the "
                "SECRET_KEY in its body.",
                "Remove the page (or serve it only in local development, never on a network).",
            )
        )
    deleted = next((a for label, a in answers.items() if label.startswith("DELETE ")), None)
    after = answers.get("GET /api/notes?q=runtime-probe")
    if deleted and deleted.status == 204 and after and "runtime-probe" in after.body:
        found.append(
            (
                "medium",
                locate(files, r"execute\(\s*[\"']DELETE"),
                f"Runtime: {deleted.label} returned 204 but the note is still listed "
                "afterwards — the delete is never committed.",
                "Call connection.commit() after the DELETE.",
            )
        )
    return [f for f in found if f[1] is not None]
