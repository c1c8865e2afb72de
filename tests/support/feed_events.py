"""The change feed's contract in tests: validate an event against ``events/schemas/<detail-type>.json``
and capture what the stack puts on its bus (a rule to an SQS queue, as a polling consumer would)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from jsonschema import Draft202012Validator

SCHEMAS = Path(__file__).resolve().parents[2] / "events" / "schemas"


@cache
def validator(detail_type: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{detail_type}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(event: dict[str, Any]) -> list[str]:
    """Every way ``event`` (an EventBridge event as delivered) breaks its detail-type's schema."""
    found = validator(str(event["detail-type"])).iter_errors(event)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '<event>'}: {e.message}" for e in found)


class BusCapture:
    """Every event put on ``bus`` (moto), through a catch-all rule to an SQS queue."""

    def __init__(self, bus: str, name: str = "feed-capture") -> None:
        self.sqs = boto3.client("sqs")
        self.url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events = boto3.client("events")
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": ["rostersync"]}))
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
        self.events: list[dict[str, Any]] = []

    def drain(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            for message in messages:
                self.events.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return [e for e in self.events if detail_type is None or e["detail-type"] == detail_type]
