"""The AWS shape on this machine, shared by the tests (tests/test_aws*.py, conftest's
``moto_endpoint``) and bench/aws_import.py, so that both run the same stand-ins:

- :func:`start_moto`: moto's server (moto_stand_in.py) on a free port, and the
  standard ``AWS_ENDPOINT_URL_<SERVICE>`` variables that send boto3 to it;
- :func:`notify_queue`: a bucket's ObjectCreated events into an SQS queue, as the
  template's ``OriginalsBucket`` does (moto's CloudFormation does not apply it);
- :func:`event_source_mapping`: what Lambda's SQS event source mapping does around the
  upload function (moto cannot run a function): receive up to 10 messages, hand them
  to ``on_upload`` as one SQS event, delete those not reported back as failures.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

SERVICES = ("S3", "DYNAMODB", "SQS", "CLOUDFORMATION", "LAMBDA", "IAM", "EVENTBRIDGE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(timeout: float = 30) -> tuple[subprocess.Popen, str, dict[str, str]]:
    """(process, URL, the endpoint variables for boto3) of a new moto server; the caller
    terminates the process. Raises RuntimeError if it does not answer within ``timeout``
    seconds."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("moto_stand_in.py")), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{url}/moto-api/", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.2)
    return proc, url, {f"AWS_ENDPOINT_URL_{s}": url for s in SERVICES}


def notify_queue(s3: Any, sqs: Any, bucket: str, queue: str) -> str:
    """``bucket`` notifies the queue at URL ``queue`` of every object created; returns
    the URL."""
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    return queue


def sqs_event(messages: list[dict]) -> dict:
    """SQS messages as the event Lambda hands a function."""
    return {"Records": [{"eventSource": "aws:sqs", "messageId": m["MessageId"],
                         "body": m["Body"]} for m in messages]}  # fmt: skip


def event_source_mapping(
    sqs: Any, queue: str, stop: Callable[[], bool], on_upload: Callable[[dict], dict]
) -> None:
    """Until ``stop()``: up to 10 messages at a time to ``on_upload``; the messages it
    does not name in ``batchItemFailures`` are deleted, the others come back after their
    visibility timeout, as with Lambda's partial batch responses."""
    while not stop():
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = got.get("Messages", [])
        if not messages:
            continue
        answer = on_upload(sqs_event(messages))
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                # a message seen again by another delivery after its visibility
                # timeout: that one deletes it, as on AWS
                with contextlib.suppress(sqs.exceptions.ClientError):
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
