"""An SQS consumer used to test the local poller: fails records whose body contains "poison"; a record "later:<n>"
fails too, after setting its own visibility timeout to n seconds (as the webhook processor does)."""

import boto3

RECEIVED: list[list[str]] = []


def lambda_handler(event, context):
    bodies = [record["body"] for record in event["Records"]]
    RECEIVED.append(bodies)
    if any(body == "crash" for body in bodies):
        raise RuntimeError("the whole batch fails")
    for record in event["Records"]:
        if record["body"].startswith("later:"):
            sqs = boto3.client("sqs", region_name=record["awsRegion"])
            url = sqs.get_queue_url(QueueName=record["eventSourceARN"].rsplit(":", 1)[1])["QueueUrl"]
            seconds = int(record["body"].split(":", 1)[1])
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=seconds
            )
    return {
        "batchItemFailures": [
            {"itemIdentifier": record["messageId"]}
            for record in event["Records"]
            if "poison" in record["body"] or record["body"].startswith("later:")
        ]
    }
