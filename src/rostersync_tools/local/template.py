"""Read ``template.yaml`` with cfn-lint, expand it with the SAM translator, resolve what is left.

Two libraries do the template work a deployment does: :func:`load_template` parses the YAML with
cfn-lint's decoder (``cfnlint.decode``: short-form intrinsics such as ``!GetAtt A.B`` come out in
their long form, ``{"Fn::GetAtt": ["A", "B"]}``), and :func:`sam_transform` runs the
``AWS::Serverless-2016-10-31`` transform offline with aws-sam-translator, as CloudFormation
would: ``Globals`` merged into each function, function ``Events`` turned into
``AWS::Events::Rule`` resources with their targets, state machines into
``AWS::StepFunctions::StateMachine``, layers, roles, permissions and APIs generated.
What neither can do is left here: :class:`Resolver` evaluates the intrinsics of the transformed
template (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If`` with the template's ``Conditions``,
``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::FindInMap``, ``Fn::Base64`` and the
condition functions) against parameter values (:func:`parameter_values`: defaults plus
overrides, checked against ``AllowedValues``), pseudo parameters and the physical names and ARNs
the local stack gives its resources in moto (:class:`PhysicalResource` per logical id, supplied
by the caller; the translator leaves these intrinsics for CloudFormation, which resolves them
against resources that exist). ``Fn::ImportValue``, ``Fn::GetAZs`` and ``Fn::Cidr`` have no local
meaning and raise :class:`UnresolvableError`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

# Pseudo parameter that removes the key (or list item) holding it.
NO_VALUE = "AWS::NoValue"
# The bucket of the S3 locations :func:`packaged` writes; its keys are the local paths.
LOCAL_ARTIFACTS = "rostersync-local-artifacts"
_ARTIFACT_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")


class TemplateError(ValueError):
    """The template is malformed or uses something the local resolver cannot evaluate."""


class UnresolvableError(TemplateError):
    """An intrinsic that has no local value (an import, an unknown logical id, an attribute)."""


class _NoValue:
    """Marker for ``Ref: AWS::NoValue``: the enclosing key or item is dropped."""

    def __repr__(self) -> str:
        return "NoValue"


_NOVALUE = _NoValue()


def load_template(path: Path | str) -> dict[str, Any]:
    """The template at ``path`` as plain dicts and lists, short-form intrinsics in long form."""
    from cfnlint.decode import decode

    decoded, problems = decode(str(path))
    if problems or decoded is None:
        raise TemplateError(f"{path}: " + "; ".join(str(p) for p in problems))
    # cfn-lint's nodes carry line marks; plain values are what the translator and moto take.
    plain: Any = json.loads(json.dumps(decoded, default=str))
    if not isinstance(plain, dict) or "Resources" not in plain:
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return plain


def packaged(template: Mapping[str, Any]) -> dict[str, Any]:
    """``template`` as ``sam package`` hands it on: the translator accepts only S3 locations for
    ``CodeUri``, ``ContentUri`` and ``DefinitionUri``, so each local path becomes
    ``s3://{LOCAL_ARTIFACTS}/<path>`` (the key keeps the path, for the local stack to find it)."""
    copy: dict[str, Any] = json.loads(json.dumps(template))
    for resource in (copy.get("Resources") or {}).values():
        props = (resource or {}).get("Properties") or {}
        for key in _ARTIFACT_PROPERTIES:
            value = props.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                props[key] = f"s3://{LOCAL_ARTIFACTS}/{value.rstrip('/')}"
    return copy


class _NoManagedPolicies:
    """The translator's managed-policy loader, offline: it would list IAM's managed policies
    through boto3. It is asked only for managed policies named in ``Policies``; the templates use
    policy templates and inline statements, so an empty map is enough, and a named managed
    policy shows up as a transform error instead of a network call."""

    def load(self) -> dict[str, str]:
        return {}


def sam_transform(
    template: Mapping[str, Any], parameters: Mapping[str, Any], region: str = "us-east-1"
) -> dict[str, Any]:
    """The CloudFormation template the SAM transform makes of ``template`` (local paths packaged
    first, see :func:`packaged`); :class:`TemplateError` with the translator's message."""
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    values = {k: ",".join(v) if isinstance(v, list) else v for k, v in parameters.items()}
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    try:
        transformed: dict[str, Any] = translator.translate(
            packaged(template), values, get_managed_policy_map=_NoManagedPolicies().load
        )
    except InvalidDocumentException as exc:
        raise TemplateError(f"SAM transform: {exc}") from None
    plain: dict[str, Any] = json.loads(json.dumps(transformed))
    return plain


def artifact_path(location: Any) -> str | None:
    """The local path of an S3 location :func:`packaged` made (a URI, ``{Bucket, Key}`` or
    ``{S3Bucket, S3Key}``), else None."""
    if isinstance(location, str) and location.startswith(f"s3://{LOCAL_ARTIFACTS}/"):
        return location.removeprefix(f"s3://{LOCAL_ARTIFACTS}/")
    if isinstance(location, Mapping):
        bucket = location.get("Bucket", location.get("S3Bucket"))
        key = location.get("Key", location.get("S3Key"))
        if bucket == LOCAL_ARTIFACTS and isinstance(key, str):
            return key
    return None


@dataclass(frozen=True)
class PhysicalResource:
    """What ``Ref`` and ``Fn::GetAtt`` give for one resource of the local stack."""

    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Resolver:
    """Evaluates intrinsic functions of one template for one local stack."""

    template: Mapping[str, Any]
    parameters: Mapping[str, str | list[str]]
    pseudo: Mapping[str, str]
    resources: Mapping[str, PhysicalResource]
    _conditions: dict[str, bool] = field(default_factory=dict, init=False, repr=False)

    # ------------------------------------------------------------------ public
    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic evaluated (``AWS::NoValue`` keys and items dropped)."""
        resolved = self._resolve(value)
        return None if resolved is _NOVALUE else resolved

    def condition(self, name: str) -> bool:
        """The value of a named condition of the template's ``Conditions`` section."""
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise UnresolvableError(f"unknown condition {name!r}")
            self._conditions[name] = self._truth(conditions[name])
        return self._conditions[name]

    # ------------------------------------------------------------------ evaluation
    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._resolve(v) for v in value]
            return [v for v in items if v is not _NOVALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = self._FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, arg)
        out = {}
        for key, item in value.items():
            resolved = self._resolve(item)
            if resolved is not _NOVALUE:
                out[key] = resolved
        return out

    def _truth(self, value: Any) -> bool:
        result = self._resolve(value)
        if isinstance(result, bool):
            return result
        if isinstance(result, str) and result.lower() in ("true", "false"):
            return result.lower() == "true"
        raise TemplateError(f"condition does not evaluate to a boolean: {value!r} -> {result!r}")

    def _ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"Ref takes a name, got {name!r}")
        if name == NO_VALUE:
            return _NOVALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.resources[name].ref
        raise UnresolvableError(f"Ref to unknown name {name!r}")

    def _get_att(self, arg: Any) -> str:
        if isinstance(arg, str):
            logical_id, _, attribute = arg.partition(".")
        elif isinstance(arg, list) and len(arg) == 2:
            logical_id, attribute = arg[0], self._resolve(arg[1])
        else:
            raise TemplateError(f"Fn::GetAtt takes [Resource, Attribute], got {arg!r}")
        resource = self.resources.get(logical_id)
        if resource is None:
            raise UnresolvableError(f"Fn::GetAtt to unknown resource {logical_id!r}")
        if attribute not in resource.attributes:
            raise UnresolvableError(
                f"Fn::GetAtt {logical_id}.{attribute}: the local stack knows only "
                f"{sorted(resource.attributes)}"
            )
        return resource.attributes[attribute]

    _SUB_VAR = re.compile(r"\$\{([^}]*)\}")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, str):
            template, variables = arg, {}
        elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str):
            template, variables = arg[0], {k: self._resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            raise TemplateError(f"Fn::Sub takes a string or [string, variables], got {arg!r}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is the escape for a literal ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                logical_id, _, attribute = name.partition(".")
                if logical_id in self.resources:
                    return self._get_att([logical_id, attribute])
            value = self._ref(name)
            if value is _NOVALUE:
                raise TemplateError("AWS::NoValue inside Fn::Sub")
            return str(value)

        return self._SUB_VAR.sub(replace, template)

    def _if(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3):
            raise TemplateError(f"Fn::If takes [condition, then, else], got {arg!r}")
        return self._resolve(arg[1] if self.condition(arg[0]) else arg[2])

    def _join(self, arg: Any) -> str:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"Fn::Join takes [delimiter, list], got {arg!r}")
        items = self._resolve(arg[1])
        if not isinstance(items, list):
            raise TemplateError(f"Fn::Join needs a list, got {items!r}")
        return str(arg[0]).join(str(i) for i in items)

    def _select(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"Fn::Select takes [index, list], got {arg!r}")
        index, items = int(self._resolve(arg[0])), self._resolve(arg[1])
        if not isinstance(items, list) or not 0 <= index < len(items):
            raise TemplateError(f"Fn::Select index {index} out of range of {items!r}")
        return items[index]

    def _split(self, arg: Any) -> list[str]:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"Fn::Split takes [delimiter, string], got {arg!r}")
        return str(self._resolve(arg[1])).split(str(arg[0]))

    def _find_in_map(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3):
            raise TemplateError(f"Fn::FindInMap takes [map, key, key], got {arg!r}")
        name, top, second = (self._resolve(a) for a in arg)
        try:
            return self.template["Mappings"][name][top][second]
        except KeyError:
            raise UnresolvableError(f"Fn::FindInMap {name}/{top}/{second} not in Mappings") from None

    def _base64(self, arg: Any) -> str:
        return base64.b64encode(str(self._resolve(arg)).encode()).decode()

    def _equals(self, arg: Any) -> bool:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"Fn::Equals takes two values, got {arg!r}")
        left, right = (self._resolve(a) for a in arg)
        return str(left) == str(right)

    def _not(self, arg: Any) -> bool:
        if not (isinstance(arg, list) and len(arg) == 1):
            raise TemplateError(f"Fn::Not takes one condition, got {arg!r}")
        return not self._truth(arg[0])

    def _and(self, arg: Any) -> bool:
        return all(self._truth(a) for a in arg)

    def _or(self, arg: Any) -> bool:
        return any(self._truth(a) for a in arg)

    def _condition_ref(self, name: Any) -> bool:
        return self.condition(str(name))

    _FUNCTIONS: ClassVar[dict[str, Callable[[Resolver, Any], Any]]] = {}  # filled below the class


def _unsupported(name: str) -> Callable[[Resolver, Any], Any]:
    def fail(_resolver: Resolver, arg: Any) -> Any:
        raise UnresolvableError(f"{name} has no local value ({arg!r})")

    return fail


Resolver._FUNCTIONS = {
    "Ref": Resolver._ref,
    "Fn::GetAtt": Resolver._get_att,
    "Fn::Sub": Resolver._sub,
    "Fn::If": Resolver._if,
    "Fn::Join": Resolver._join,
    "Fn::Select": Resolver._select,
    "Fn::Split": Resolver._split,
    "Fn::FindInMap": Resolver._find_in_map,
    "Fn::Base64": Resolver._base64,
    "Fn::Equals": Resolver._equals,
    "Fn::Not": Resolver._not,
    "Fn::And": Resolver._and,
    "Fn::Or": Resolver._or,
    "Condition": Resolver._condition_ref,
}
for _name in ("Fn::ImportValue", "Fn::GetAZs", "Fn::Cidr", "Fn::Transform"):
    Resolver._FUNCTIONS[_name] = _unsupported(_name)


def parameter_values(
    template: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> dict[str, str | list[str]]:
    """Parameter values as ``Ref`` gives them: overrides, else defaults; strings, or lists of
    strings for ``CommaDelimitedList`` and ``List<...>`` parameters.

    A parameter with neither is an error, as ``sam deploy`` would refuse it; so is an override for
    a parameter the template does not declare (a typo would silently test the default).
    """
    declared = template.get("Parameters") or {}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"parameter overrides for undeclared parameters: {', '.join(unknown)}")
    values: dict[str, str | list[str]] = {}
    for name, spec in declared.items():
        spec = spec or {}
        if name in overrides:
            value = overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"parameter {name} has no default and no override")
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        text = str(value).lower() if isinstance(value, bool) else str(value)
        allowed = spec.get("AllowedValues")
        if allowed is not None and text not in [str(a) for a in allowed]:
            raise TemplateError(f"parameter {name}={text!r} is not one of {allowed}")
        kind = str(spec.get("Type", "String"))
        is_list = kind == "CommaDelimitedList" or kind.startswith("List<")
        values[name] = [v.strip() for v in text.split(",")] if is_list else text
    return values
