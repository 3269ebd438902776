"""An SQS consumer used to test the local poller: fails records whose body contains "poison"."""

RECEIVED: list[list[str]] = []


def lambda_handler(event, context):
    bodies = [record["body"] for record in event["Records"]]
    RECEIVED.append(bodies)
    if any(body == "crash" for body in bodies):
        raise RuntimeError("the whole batch fails")
    return {
        "batchItemFailures": [
            {"itemIdentifier": record["messageId"]} for record in event["Records"] if "poison" in record["body"]
        ]
    }
