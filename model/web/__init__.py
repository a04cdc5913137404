"""`nuchter serve`: the FastAPI service, its micro-batcher and its page; it scores through the pipeline, never a backend."""
