"""Tables of maintainers ' change sets and published versions (placeholder)."""
