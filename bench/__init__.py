"""`make bench`: see __main__.py."""

import project  # noqa: F401 - puts the layer on sys.path
