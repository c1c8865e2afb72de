"""Short-lived presigned S3 GET URLs (the release API's CSV downloads)."""

from __future__ import annotations

from typing import Any

from rostersync.aws import clients


class S3Presigner:
    """Presigned GET URLs for keys of ``bucket``, downloaded as an attachment named ``filename``."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else clients.s3_presigner()

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def url(self, key: str, *, filename: str, expires_in: int) -> str:
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"',
                    "ResponseContentType": "text/csv; charset=utf-8",
                },
                ExpiresIn=expires_in,
            )
        )
