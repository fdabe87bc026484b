"""Offline research: a bundled corpus of real documents and a small MCP server over it."""
