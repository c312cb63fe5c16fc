"""ContIG pretraining: models, losses, datasets, augmentations, training loop, checkpoints.

``models`` and ``losses`` import without the training machinery (``train``); nothing here runs
at import time.
"""
