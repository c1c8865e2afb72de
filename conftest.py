"""Root test configuration: fake AWS credentials and Powertools settings before any import."""

import os

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SECURITY_TOKEN", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "rostersync")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "rostersync")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
# Powertools prints each metric flush as a CloudWatch EMF JSON line on stdout; tests that assert
# the metrics (tests/unit/feed/test_health.py) turn them back on for themselves.
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
