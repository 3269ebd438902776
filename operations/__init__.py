"""Operations on a deployed stack: `make smoke`, `make redrive` (and both against `make run`)."""

import project  # noqa: F401 - puts the layer on sys.path
