from flask import Flask, jsonify, request

from db import connect

app = Flask(__name__)
app.config["SECRET_KEY"] = "dev-secret-change-me"


@app.get("/api/notes")
def list_notes():
    query = request.args.get("q", "")
    rows = connect().execute(
        f"SELECT id, title, body FROM notes WHERE title LIKE '%{query}%'"
    ).fetchall()
    return jsonify([{"id": r[0], "title": r[1], "body": r[2]} for r in rows])


@app.post("/api/notes")
def add_note():
    data = request.get_json()
    connection = connect()
    connection.execute("INSERT INTO notes (title, body) VALUES (?, ?)", (data["title"], data["body"]))
    connection.commit()
    return "", 201


@app.delete("/api/notes/<int:note_id>")
def delete_note(note_id):
    connection = connect()
    connection.execute("DELETE FROM notes WHERE id = ?", (note_id,))
    return "", 204


if __name__ == "__main__":
    app.run(debug=True)
