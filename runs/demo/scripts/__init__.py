"""The demo model's scripts, one per kind of work. The first whose `handles(turn)` is true
plans the turn; each is a module with `handles(turn) -> bool` and `plan(turn) -> items`."""

from . import coordinator, research, review, synthesis, workspace

# A coordinator (lane tools, or a declared schema, no shell) first; research before the other
# shell scripts: a researcher has a shell too.
SCRIPTS = [coordinator, research, synthesis, review, workspace]
