"""Plain helpers every app may use. `lib` imports no app of this project."""
