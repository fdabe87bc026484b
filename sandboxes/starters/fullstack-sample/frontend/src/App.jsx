import { useEffect, useState } from "react";
import { addNote, deleteNote, listNotes } from "./api";

export default function App() {
  const [notes, setNotes] = useState([]);
  const [query, setQuery] = useState("");
  const [title, setTitle] = useState("");

  useEffect(() => {
    listNotes(query).then(setNotes);
  });

  return (
    <main>
      <h1>Notes</h1>
      <input placeholder="Search" value={query} onChange={(e) => setQuery(e.target.value)} />
      <ul>
        {notes.map((note) => (
          <li>
            <span dangerouslySetInnerHTML={{ __html: note.title }} />
            <button onClick={() => deleteNote(note.id)}>x</button>
          </li>
        ))}
      </ul>
      <input value={title} onChange={(e) => setTitle(e.target.value)} />
      <button onClick={() => addNote(title, "")}>Add</button>
    </main>
  );
}
