"""Explanations of a trained ContIG model: integrated-gradients attributions of the contrastive
objective to the genetic inputs (global and per individual) and image-space maps for a chosen
genetic feature; figures of both.

Nothing here runs at import time; captum and matplotlib are imported by the functions that use
them.
"""
