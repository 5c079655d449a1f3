"""Content creation: Content drafts, AI generation and publishing."""
