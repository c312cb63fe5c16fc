"""GWAS engine: QC, standardised kinship, null model, batched association, LOCO, lambda GC.

Array layer: ``kinship``, ``nullmodel``, ``association``, ``qc`` (arrays in, dataclasses out).
Dataset layer: ``driver`` (the skeleton every mode runs through: ``inputs`` aligned, chunks
planned, scanned and written resumably by ``chunks``, merged by ``results``) and its modes,
``engine.ExactMode`` (FaST-LMM, or OLS) and ``scalable.engine.ScalableMode`` (BOLT-LMM-inf).
Importing this package has no side effects.
"""
