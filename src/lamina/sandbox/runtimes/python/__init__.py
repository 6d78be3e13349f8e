"""Lamina's Python runtime.

``bootstrap.py`` in this folder runs *inside* a function's execution environment, on the function's
interpreter, and speaks the Lambda Runtime API to the platform. It is stdlib-only and is started
either as a script (``python bootstrap.py``) or imported once by the zygote, which forks and calls
``bootstrap.main()`` in each child. This package only tells the host side where the file is; it never
imports the bootstrap itself.
"""

from __future__ import annotations

import os

#: Absolute path of the bootstrap script, for ``python BOOTSTRAP_PATH`` or the zygote's loader.
BOOTSTRAP_PATH: str = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py")
