"""Fine-tuning and evaluation of nuchter classifiers (imports torch lazily)."""
