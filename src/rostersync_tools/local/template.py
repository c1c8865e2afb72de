"""Read a SAM/CloudFormation template and resolve the intrinsics a local run needs.

:func:`load_template` parses YAML with the short-form intrinsic tags (``!Ref``, ``!GetAtt``,
``!Sub`` ...) turned into their long-form mappings (``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``),
the form CloudFormation itself evaluates. :class:`Resolver` evaluates ``Ref``, ``Fn::GetAtt``,
``Fn::Sub``, ``Fn::If`` (with the template's ``Conditions``), ``Fn::Join``, ``Fn::Select``,
``Fn::Split``, ``Fn::FindInMap``, ``Fn::Base64`` and the condition functions against parameter
values (defaults plus overrides), pseudo parameters and the physical names and ARNs the local
stack gives its resources. It knows nothing of moto: the caller hands it a :class:`PhysicalResource`
per logical id. ``Fn::ImportValue``, ``Fn::GetAZs`` and ``Fn::Cidr`` have no local meaning and
raise :class:`UnresolvableError`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

# Short-form tag -> long-form key. GetAtt and Condition have their own constructors below.
_FN_TAGS = {
    "Base64": "Fn::Base64",
    "Cidr": "Fn::Cidr",
    "FindInMap": "Fn::FindInMap",
    "GetAZs": "Fn::GetAZs",
    "ImportValue": "Fn::ImportValue",
    "Join": "Fn::Join",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "Sub": "Fn::Sub",
    "Transform": "Fn::Transform",
    "If": "Fn::If",
    "Equals": "Fn::Equals",
    "Not": "Fn::Not",
    "And": "Fn::And",
    "Or": "Fn::Or",
    "ToJsonString": "Fn::ToJsonString",
    "Length": "Fn::Length",
}

# Pseudo parameter that removes the key (or list item) holding it.
NO_VALUE = "AWS::NoValue"


class TemplateError(ValueError):
    """The template is malformed or uses something the local resolver cannot evaluate."""


class UnresolvableError(TemplateError):
    """An intrinsic that has no local value (an import, an unknown logical id, an attribute)."""


class _NoValue:
    """Marker for ``Ref: AWS::NoValue``: the enclosing key or item is dropped."""

    def __repr__(self) -> str:
        return "NoValue"


_NOVALUE = _NoValue()


class _TemplateLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """SafeLoader with CloudFormation's short-form tags."""


def _construct(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise TemplateError(f"unexpected YAML node {node!r}")  # pragma: no cover


def _fn_constructor(long_name: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {long_name: _construct(node, loader)}

    return construct


def _ref(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Ref": _construct(node, loader)}


def _condition(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Condition": _construct(node, loader)}


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct(node, loader)
    if isinstance(value, str):
        # "Resource.Attribute" (attribute names may themselves hold dots: split once).
        logical_id, _, attribute = value.partition(".")
        if not attribute:
            raise TemplateError(f"!GetAtt {value!r} needs Resource.Attribute")
        value = [logical_id, attribute]
    return {"Fn::GetAtt": value}


_TemplateLoader.add_constructor("!Ref", _ref)
_TemplateLoader.add_constructor("!GetAtt", _get_att)
_TemplateLoader.add_constructor("!Condition", _condition)
for _short, _long in _FN_TAGS.items():
    _TemplateLoader.add_constructor(f"!{_short}", _fn_constructor(_long))


def load_template(path: Path | str) -> dict[str, Any]:
    """The template at ``path`` as a dict, short-form intrinsics in long form."""
    text = Path(path).read_text(encoding="utf-8")
    loaded = yaml.load(text, Loader=_TemplateLoader)  # a SafeLoader subclass
    if not isinstance(loaded, dict) or "Resources" not in loaded:
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return loaded


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
