"""A fast FHIR read for the hook's pruned resources: accept what is plainly valid, leave the rest to the full read.

Why: validating each prefetched resource with the ``fhir.resources`` models was most of a hook call's CPU
(about 70 ms of ~200 ms for an 808-resource chart), nearly all of it in their per-element Python validators.
Most EHR data is plain: strings, codes, full dates, numbers, codings. :func:`read` checks a resource
against the *same* models' field tables (names, types, cardinality, required elements, ``[x]`` choices, read
from ``model_fields`` once per class) with stricter rules than the models apply, and answers a light
attribute view (:class:`View`) holding the values the model would hold (``date`` / ``datetime`` / ``Decimal``).

It only ever *accepts*. Anything it is not sure of -- an extension, a ``_element`` twin, a ``contained``
resource, a partial date, a leap second, a string where a number belongs, an empty object, a null, a
primitive type it does not check (``base64Binary``, ``canonical``, ``time`` ...) -- answers None, and the
caller validates that resource with ``fhir.resources`` as before. So a resource the full read refuses is
still refused with the full read's message (entry, field, text), and a resource accepted here is one the
full read accepts with the same values: ``tests/service/test_lean_read.py`` checks both over every Synthea
bundle and over mutated resources.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from fhir_core import types as fhir_types

_INT32 = 2**31 - 1
_STRING = re.compile(r"[ \r\n\t\S]+")
_CODE = re.compile(r"[^\s]+(\s[^\s]+)*")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_URI = re.compile(r"\S+")
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+\-][0-9]{2}:[0-9]{2})"
)
_KEYS_NOT_READ = frozenset({"extension", "modifierExtension", "fhir_comments", "contained"})


class _Unsure(Exception):
    """Not plainly valid: the caller validates with ``fhir.resources``."""


def _matching(pattern: re.Pattern[str]) -> Callable[[object], str]:
    """A check for a FHIR string type: a ``str`` that matches the type's regex in full."""

    def check(value: object) -> str:
        if type(value) is not str or not pattern.fullmatch(value):
            raise _Unsure
        return value

    return check


_string, _code, _id, _uri = (_matching(p) for p in (_STRING, _CODE, _ID, _URI))


def _boolean(value: object) -> bool:
    if type(value) is not bool:
        raise _Unsure
    return value


def _integer(low: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if type(value) is not int or not low <= value <= _INT32:
            raise _Unsure
        return value

    return check


def _decimal(value: object) -> decimal.Decimal:
    if type(value) is int:
        return decimal.Decimal(value)
    if type(value) is not float or not math.isfinite(value):
        raise _Unsure
    text = str(value)
    if not fhir_types.Decimal.pattern.fullmatch(text):
        raise _Unsure
    return decimal.Decimal(text)


def _full_date(value: str) -> dt.date:
    if not _FULL_DATE.fullmatch(value) or not fhir_types.Date.pattern.fullmatch(value):
        raise _Unsure
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _Unsure from None


def _date(value: object) -> dt.date:
    if type(value) is not str:
        raise _Unsure
    return _full_date(value)


def _timestamp(value: str) -> dt.datetime:
    if not _DATE_TIME.fullmatch(value) or not fhir_types.DateTime.pattern.fullmatch(value):
        raise _Unsure
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise _Unsure from None


def _date_time(value: object) -> dt.date | dt.datetime:
    if type(value) is not str:
        raise _Unsure
    return _timestamp(value) if "T" in value else _full_date(value)


def _instant(value: object) -> dt.datetime:
    if type(value) is not str or not fhir_types.Instant.pattern.fullmatch(value):
        raise _Unsure
    return _timestamp(value)


#: fhir_core's primitive metadata class -> the strict check (types not listed are never accepted here).
_PRIMITIVES: dict[str, Callable[[object], Any]] = {
    "String": _string,
    "Code": _code,
    "Id": _id,
    "Uri": _uri,
    "Integer": _integer(-_INT32 - 1),
    "UnsignedInt": _integer(0),
    "PositiveInt": _integer(1),
    "Decimal": _decimal,
    "Date": _date,
    "DateTime": _date_time,
    "Instant": _instant,
}


def _unsure(_: object) -> Any:
    raise _Unsure


@dataclass(frozen=True)
class _Field:
    name: str  # the model's attribute name
    many: bool
    check: Callable[[object], Any] | None  # a primitive's check; None for a complex type
    model: Any = None  # the complex type's model class


@dataclass(frozen=True, eq=False)  # (hashed by identity: one per model class, the key of its view class)
class _Spec:
    type_name: str
    fields: Mapping[str, _Field]  # by JSON key
    attributes: frozenset[str]
    required: frozenset[str]  # JSON keys
    choices: tuple[tuple[frozenset[str], bool], ...]  # ([x] JSON keys, one required)
    resource: bool


def _field(name: str, annotation: Any) -> _Field:
    many = False
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        if len(args) != 1:
            return _Field(name, False, _unsure)
        annotation = args[0]
    if typing.get_origin(annotation) is list:
        many, annotation = True, typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is typing.Annotated:
        meta = annotation.__metadata__
        check = _PRIMITIVES.get(type(meta[0]).__name__, _unsure) if meta else _unsure
        return _Field(name, many, check)
    if annotation is bool:
        return _Field(name, many, _boolean)
    klass = getattr(annotation, "get_model_klass", None)
    if klass is None:
        return _Field(name, many, _unsure)
    return _Field(name, many, None, klass())


@cache
def _spec(model: Any) -> _Spec:
    fields: dict[str, _Field] = {}
    choices: dict[str, tuple[list[str], bool]] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key.startswith("_") or key in _KEYS_NOT_READ:
            continue  # extension twins and extensions: never accepted here (not in ``fields``)
        fields[key] = _field(name, info.annotation)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        group = extra.get("one_of_many")
        if isinstance(group, str):
            keys, _ = choices.setdefault(group, ([], bool(extra.get("one_of_many_required"))))
            keys.append(key)
    required = {(info.alias or name) for name, info in model.model_fields.items() if info.is_required()}
    required |= {model.model_fields[name].alias or name for name, _ in model.get_required_fields(None)}
    resource = model.has_resource_base()
    return _Spec(
        model.get_resource_type(),
        fields,
        frozenset(f.name for f in fields.values()),
        frozenset(required),
        tuple((frozenset(keys), req) for keys, req in choices.values()),
        resource,
    )


class View:
    """What a ``fhir.resources`` model answers for the attributes the mapper reads: each field of the
    model's type is an attribute, None when absent; anything else is an AttributeError, as on the model.

    Each type gets its own subclass (:func:`_view_class`) whose class attributes are its fields, all None,
    so an absent field is found on the class at C speed: the mapper asks ~10,000 times a call for elements
    a resource does not have, and a ``__getattr__`` answering them (with a function call per value in
    :func:`_element`) cost ~6 ms of a ~65 ms call."""

    _spec: _Spec

    def get_resource_type(self) -> str:
        return self._spec.type_name

    def __repr__(self) -> str:
        return f"View({self._spec.type_name})"


@cache
def _view_class(spec: _Spec) -> type[View]:
    clash = spec.attributes & {"get_resource_type", "_spec"}
    if clash or any(name.startswith("_") for name in spec.attributes):
        raise TypeError(f"{spec.type_name}: field names {sorted(clash)} would shadow the view's own")
    namespace: dict[str, Any] = dict.fromkeys(spec.attributes)
    namespace["_spec"] = spec
    return type(f"View[{spec.type_name}]", (View,), namespace)


def _element(spec: _Spec, data: object, top: bool) -> View:
    if type(data) is not dict or not data:
        raise _Unsure
    values: dict[str, Any] = {}
    fields = spec.fields
    for key, value in data.items():
        if key == "resourceType" and top and spec.resource:
            if value != spec.type_name:
                raise _Unsure
            continue
        field = fields.get(key)
        if field is None or value is None:
            raise _Unsure
        check = field.check
        if field.many:
            if type(value) is not list or not value:
                raise _Unsure
            if check is not None:
                values[field.name] = [check(item) for item in value]  # (a None item fails every check)
            else:
                sub = _spec(field.model)
                values[field.name] = [_element(sub, item, False) for item in value]
        elif check is not None:
            values[field.name] = check(value)
        else:
            values[field.name] = _element(_spec(field.model), value, False)
    if not spec.required <= data.keys():
        raise _Unsure
    for keys, required in spec.choices:
        present = len(keys & data.keys())
        if present > 1 or (required and present == 0):
            raise _Unsure
    view = object.__new__(_view_class(spec))
    view.__dict__ = values
    return view


@lru_cache(maxsize=64)  # (bounded: the names come from the request; a refusal is an exception, not cached)
def _model_class(rtype: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(rtype)


def read(resource: Mapping[str, Any]) -> View | None:
    """A :class:`View` of a plainly valid resource of a type ``fhir.resources`` knows, or None (validate it
    with the full models then)."""
    rtype = resource.get("resourceType")
    if type(rtype) is not str:
        return None
    try:
        model = _model_class(rtype)
    except (KeyError, ValueError):
        return None
    try:
        return _element(_spec(model), dict(resource), True)
    except _Unsure:
        return None
