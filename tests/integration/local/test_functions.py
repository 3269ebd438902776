"""The in-process Lambda runtime stand-in: handlers imported as Lambda imports them."""

from __future__ import annotations

import sys
import threading

from local.functions import load_handler
from project import template as cfn


def test_concurrent_first_requests_all_get_the_handler():
    # Given a function whose module no request has imported yet
    spec = cfn.functions()["CladfyKraPinFunction"]
    sys.modules.pop(f"lambda_function_{spec.logical_id}", None)
    results, barrier = [], threading.Barrier(8)

    def first_request() -> None:
        barrier.wait()
        try:
            results.append(load_handler(spec))
        except Exception as error:  # noqa: BLE001 - the failure is what the test looks for
            results.append(error)

    # When eight requests arrive at once
    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every one runs the one handler (none sees a half-imported module)
    assert all(callable(result) for result in results), results
    assert len({id(result) for result in results}) == 1
