"""Build steps after `sam build`: botocore slimmed to the services the gateway calls, the built layer verified."""

import project  # noqa: F401 - puts the layer on sys.path
