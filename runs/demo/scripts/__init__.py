"""The demo model's scripts, one per kind of work. The first whose `handles(turn)` is true
plans the turn; each is a module with `handles(turn) -> bool` and `plan(turn) -> items`."""

from . import coordinator, review, synthesis, workspace

SCRIPTS = [coordinator, synthesis, review, workspace]
