"""rostersync_tools.local.template: short-form intrinsics and the resolver the local stack relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rostersync_tools.local import PhysicalResource, Resolver, TemplateError, UnresolvableError, load_template
from rostersync_tools.local.resources import LocalStackError
from rostersync_tools.local.stack import shared_environment
from rostersync_tools.local.template import parameter_values

TEMPLATE = """
Parameters:
  Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Names: {Type: CommaDelimitedList, Default: "a,b"}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: !Not [!Condition IsProd]
Mappings:
  Sizes: {dev: {Memory: 128}, prod: {Memory: 1024}}
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Arn: !GetAtt Bucket.Arn
      LongArn: !GetAtt [Bucket, Arn]
      Sub: !Sub "${AWS::Region}:${Bucket}:${Bucket.Arn}:${!Literal}"
      SubList: !Sub ["${X}-${Env}", {X: !Ref Bucket}]
      Join: !Join ["/", [!Ref Env, !Select [1, !Ref Names]]]
      Split: !Select [1, !Split ["@", "a@b.org"]]
      If: !If [IsProd, big, small]
      Both: !And [!Condition NotProd, !Or [!Equals [1, 1], !Equals [1, 2]]]
      Memory: !FindInMap [Sizes, !Ref Env, Memory]
      Encoded: !Base64 hi
      Dropped: !If [IsProd, kept, !Ref AWS::NoValue]
      List: [one, !If [IsProd, two, !Ref AWS::NoValue]]
"""


@pytest.fixture
def template(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    return load_template(path)


def _resolver(template: dict[str, Any], **overrides: str) -> Resolver:
    return Resolver(
        template=template,
        parameters=parameter_values(template, overrides),
        pseudo={"AWS::Region": "eu-west-1"},
        resources={"Bucket": PhysicalResource("my-bucket", {"Arn": "arn:aws:s3:::my-bucket"})},
    )


def test_short_form_tags_load_as_long_form(template: dict[str, Any]) -> None:
    props = template["Resources"]["Fn"]["Properties"]

    assert props["Arn"] == {"Fn::GetAtt": ["Bucket", "Arn"]}
    assert props["If"] == {"Fn::If": ["IsProd", "big", "small"]}
    assert template["Conditions"]["NotProd"] == {"Fn::Not": [{"Condition": "IsProd"}]}


def test_intrinsics_resolve_against_parameters_pseudo_parameters_and_resources(
    template: dict[str, Any],
) -> None:
    props = _resolver(template).resolve(template["Resources"]["Fn"]["Properties"])

    assert props == {
        "Arn": "arn:aws:s3:::my-bucket",
        "LongArn": "arn:aws:s3:::my-bucket",
        "Sub": "eu-west-1:my-bucket:arn:aws:s3:::my-bucket:${Literal}",
        "SubList": "my-bucket-dev",
        "Join": "dev/b",
        "Split": "b.org",
        "If": "small",
        "Both": True,
        "Memory": 128,
        "Encoded": "aGk=",
        "List": ["one"],
    }


def test_conditions_follow_parameter_overrides(template: dict[str, Any]) -> None:
    props = _resolver(template, Env="prod").resolve(template["Resources"]["Fn"]["Properties"])

    assert (props["If"], props["Dropped"], props["List"], props["Memory"]) == (
        "big",
        "kept",
        ["one", "two"],
        1024,
    )


def test_a_value_outside_allowed_values_is_refused(template: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="not one of"):
        parameter_values(template, {"Env": "staging"})


def test_unknown_references_and_imports_are_errors(template: dict[str, Any]) -> None:
    resolver = _resolver(template)

    with pytest.raises(UnresolvableError, match="Nope"):
        resolver.resolve({"Ref": "Nope"})
    with pytest.raises(UnresolvableError, match="DomainName"):
        resolver.resolve({"Fn::GetAtt": ["Bucket", "DomainName"]})
    with pytest.raises(UnresolvableError, match="ImportValue"):
        resolver.resolve({"Fn::ImportValue": "shared-vpc"})


def test_the_local_stack_refuses_a_variable_two_functions_set_differently() -> None:
    with pytest.raises(LocalStackError, match="IngestFunction and DiffFunction set LOG_LEVEL differently"):
        shared_environment({"IngestFunction": {"LOG_LEVEL": "INFO"}, "DiffFunction": {"LOG_LEVEL": "DEBUG"}})


def test_the_local_stack_leaves_out_the_allocators_start_up_settings() -> None:
    start_up = {"MIMALLOC_ALLOW_THP": "0", "NUMPY_MADVISE_HUGEPAGE": "0"}
    shared = shared_environment(
        {
            "IngestFunction": {"LOG_LEVEL": "INFO", "MIMALLOC_PURGE_DELAY": "100", **start_up},
            "DiffFunction": {"LOG_LEVEL": "INFO", "MIMALLOC_PURGE_DELAY": "0", **start_up},
        }
    )
    assert shared == {"LOG_LEVEL": "INFO"}
