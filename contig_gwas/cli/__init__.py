"""Command-line layer: one module per tool, each with ``parse_args(argv)`` and ``main(argv)``."""
