"""The audit database: decisions, feedback and seen tokens, their schema revisions, governance figures."""
