"""Case-control (binary) phenotypes: detection, the logistic null model, and the tests of a
block of variants (score test, approximate Firth, saddle-point approximation, and the full
logistic regression of ``--linear``)."""
