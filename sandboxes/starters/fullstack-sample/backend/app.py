"""The notes API, on the Python standard library (http.server + sqlite3).

Run: python3 backend/app.py (PORT=5000 by default).
"""

import json
import os
import re
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from db import connect

SECRET_KEY = "dev-secret-change-me"


class Api(BaseHTTPRequestHandler):
    debug = False

    def send(self, status, body=b"", kind="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def get_json(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    def handle_one(self, method):
        try:
            url = urlparse(self.path)
            if method == "GET" and url.path == "/api/notes":
                return self.list_notes(parse_qs(url.query).get("q", [""])[0])
            if method == "POST" and url.path == "/api/notes":
                return self.add_note()
            if method == "DELETE" and (match := re.fullmatch(r"/api/notes/(\d+)", url.path)):
                return self.delete_note(int(match[1]))
            if method == "GET" and url.path == "/debug" and self.debug:
                config = {"SECRET_KEY": SECRET_KEY, "cwd": os.getcwd(), "debug": self.debug}
                return self.send(200, json.dumps(config).encode())
            self.send(404, b'{"error": "not found"}')
        except Exception:
            if self.debug:
                self.send(500, traceback.format_exc().encode(), "text/plain")
            else:
                self.send(500, b'{"error": "internal error"}')

    def do_GET(self):
        self.handle_one("GET")

    def do_POST(self):
        self.handle_one("POST")

    def do_DELETE(self):
        self.handle_one("DELETE")

    def list_notes(self, query):
        rows = connect().execute(
            f"SELECT id, title, body FROM notes WHERE title LIKE '%{query}%'"
        ).fetchall()
        notes = [{"id": r[0], "title": r[1], "body": r[2]} for r in rows]
        self.send(200, json.dumps(notes).encode())

    def add_note(self):
        data = self.get_json()
        connection = connect()
        connection.execute("INSERT INTO notes (title, body) VALUES (?, ?)", (data["title"], data["body"]))
        connection.commit()
        self.send(201)

    def delete_note(self, note_id):
        connection = connect()
        connection.execute("DELETE FROM notes WHERE id = ?", (note_id,))
        self.send(204)


def serve(port=5000, debug=False):
    Api.debug = debug
    server = ThreadingHTTPServer(("127.0.0.1", port), Api)
    print(f"Serving the notes API on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(int(os.environ.get("PORT", "5000")), debug=True)
