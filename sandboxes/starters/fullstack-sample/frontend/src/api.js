const BASE = "http://localhost:5000/api";

export async function listNotes(query) {
  const response = await fetch(`${BASE}/notes?q=${query}`);
  return response.json();
}

export async function addNote(title, body) {
  await fetch(`${BASE}/notes`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ title, body }),
  });
}

export async function deleteNote(id) {
  await fetch(`${BASE}/notes/${id}`, { method: "DELETE" });
}
