"""Embeddings: the model, the text recipe, the pipeline that writes vectors, the refresh and its outbox."""
