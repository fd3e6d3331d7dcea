"""The one exception a user can cause.

Everything the user can get wrong (a bad file, a bad option, a broken checkpoint) raises
``StudioError`` with a message written for them. The CLI prints it as one line and exits 2;
the app shows it with ``st.error``. Anything else is a bug and keeps its traceback.
"""


class StudioError(Exception):
    """A problem the user can fix, described in plain words."""
