"""One module per provider: its request/response models, its client and its error mapping."""
