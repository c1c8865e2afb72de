"""Step Functions: start the sync state machine under a deterministic name, resume a waiting task,
read an execution's status (whether the owner of a district's lock still runs)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from rostersync.aws import clients
from rostersync.pipeline.ports import TaskGoneError

_GONE = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}


class StepFunctionsWorkflow:
    def __init__(self, state_machine_arn: str, client: Any = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else clients.stepfunctions()

    def start(self, name: str, payload: dict[str, Any]) -> str | None:
        """The new execution's ARN; None when an execution of that name exists (a duplicate event)."""
        try:
            response = self.client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return None
            raise
        return str(response["executionArn"])

    def send_success(self, task_token: str, output: dict[str, Any]) -> None:
        try:
            self.client.send_task_success(taskToken=task_token, output=json.dumps(output))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _GONE:
                raise TaskGoneError(exc.response["Error"].get("Message", "")) from None
            raise

    def execution_status(self, execution_arn: str) -> str | None:
        try:
            response = self.client.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return None
            raise
        return str(response["status"])

    def stop(self, execution_arn: str, cause: str) -> None:
        try:
            self.client.stop_execution(executionArn=execution_arn, cause=cause[:32768])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
                raise
