"""Self-learning: Feedback, evaluation sets and experiments."""
