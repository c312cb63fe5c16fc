"""Downstream evaluation of image encoders: linear probe on frozen features, full fine-tuning,
metrics fit for the label, and comparisons of several checkpoints over seeded splits by person.

Nothing here runs at import time.
"""
