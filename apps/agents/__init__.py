"""Task agents: Agent tasks and their runs."""
