"""The chaos suite's session."""

# Imported now, not at the session's end: hypothesis's pytest plugin imports it lazily in
# its terminal summary, and that import, after the faults' threads had run, once crashed
# CPython 3.11's compiler (SystemError: AST constructor recursion depth mismatch).
import hypothesis  # noqa: F401
