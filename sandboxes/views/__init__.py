"""Pages of sandboxes: the home page, sessions, manifests, previews and workspaces."""
