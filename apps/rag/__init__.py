"""Knowledge base: Document ingestion and hybrid retrieval with cited answers."""
