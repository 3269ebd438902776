"""The local stack of `make run` and `make invoke`: the API, the AWS emulator, the queue poller, the scheduler, the
provider sandbox and the in-process functions, all from template.yaml."""

import project  # noqa: F401 - puts the layer on sys.path
