"""Exceptions that reach the user.

``InputError`` is raised for bad input (a file, a column, a value the user supplied). Its
message must name the file and the problem; the command-line layer prints it and exits with
status 2. Internal invariants use ``assert``; nothing else does.
"""


class InputError(Exception):
    """Bad user input. The message names the file, the column and the numbers."""
