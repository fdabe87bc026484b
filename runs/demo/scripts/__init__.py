"""The demo model's scripts, one per kind of work. The first whose `handles(turn)` is true
plans the turn; each is a module with `handles(turn) -> bool` and `plan(turn) -> items`."""

from . import research, synthesis, workspace

# research first: a researcher has a shell too.
SCRIPTS = [research, synthesis, workspace]
