"""Files generated from the template, the registry and the request models, each checked for staleness by a test:
template.yaml, openapi.json, the Python client's models, events/env.json."""

import project  # noqa: F401 - puts the layer on sys.path
