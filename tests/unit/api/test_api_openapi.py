"""The committed OpenAPI document is the resolver's, and the API function never needs pyarrow."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from rostersync.api import openapi_document, openapi_text
from tests.support.api_helpers import ROOT

DOCUMENT = ROOT / "docs" / "openapi.json"


def test_docs_openapi_json_matches_the_code() -> None:
    committed = DOCUMENT.read_text(encoding="utf-8")

    assert committed == openapi_text(), "docs/openapi.json is stale: run `make openapi`"


def test_every_operation_requires_the_cognito_token_and_documents_its_errors() -> None:
    document = openapi_document()

    assert document["security"] == [{"cognito": []}]
    assert document["components"]["securitySchemes"]["cognito"]["in"] == "header"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert {"401", "403", "404", "422"} <= codes, (method, path)


def test_decision_routes_document_409_and_410() -> None:
    paths: dict[str, Any] = openapi_document()["paths"]

    for action in ("release", "reject", "retry"):
        assert {"409", "410"} <= set(paths[f"/syncs/{{sync_id}}/{action}"]["post"]["responses"])


def test_the_api_imports_without_pyarrow() -> None:
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('api_app', {str(ROOT / 'functions/api/app.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(len(module.app.get_openapi_schema().paths))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT
    )

    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) == len(json.loads(DOCUMENT.read_text())["paths"])
