"""The one cattrs converter: JSON bodies to generated attrs models and back.

`configure_converter(c)` states every rule once; `converter` is the configured instance the SDK
uses. Rules:

- attributes are snake_case, the JSON names live in each field's `metadata["json"]`;
- money is `Decimal` end to end (JSON floats are parsed with `parse_float=Decimal`);
- UUIDs and both of the API's datetime shapes; a datetime without an offset is UTC;
- unknown JSON keys are ignored; unknown enum values are kept (the generated enums are open);
- nothing is coerced: `"1"` is not an int and `"48.00"` is not money;
- optional fields left at None are omitted when a model is turned into JSON.

A body that does not fit raises `ResponseValidationError` naming the place in the API's own key
names (`$.items[3].orderStatus`).
"""

from __future__ import annotations

import json
import linecache
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from types import UnionType
from typing import Any, TypeVar, Union, cast, get_args, get_origin
from uuid import UUID

import attrs
from cattrs import Converter
from cattrs.cols import list_structure_factory
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from godeploy._exceptions import ResponseValidationError

__all__ = [
    "configure_converter",
    "converter",
    "decode_json",
    "dumps",
    "json_name",
    "structure",
    "structure_json",
    "unstructure",
]

T = TypeVar("T")


def json_name(attribute: attrs.Attribute[Any]) -> str:
    """Return the JSON key of a generated attribute."""
    return str(attribute.metadata.get("json", attribute.name))


def _strict(kind: type[Any], name: str) -> Callable[[Any, Any], Any]:
    """Return a structure hook that accepts exactly one JSON type and converts nothing.

    The hook also serves subclasses of `kind` (the hook of `str` is the one cattrs finds for a
    `StrEnum`): a value of the right JSON type becomes an instance of the target class.
    """

    def hook(value: Any, cl: Any) -> Any:
        # bool is an int subclass in Python, but never a number in a JSON contract.
        if type(value) is not kind:
            raise TypeError(f"expected {name}, got {_json_type(value)}")
        return value if cl is kind else cl(value)

    return hook


_structure_int = _strict(int, "an integer")
_structure_str = _strict(str, "a string")
_structure_bool = _strict(bool, "a boolean")
_STRICT_KINDS: dict[Any, type[Any]] = {
    _structure_int: int,
    _structure_str: str,
    _structure_bool: bool,
}


def _require(value: Any, kind: type[Any], name: str) -> None:
    """Refuse a value that is not exactly of one JSON container type."""
    if type(value) is not kind:
        raise TypeError(f"expected {name}, got {_json_type(value)}")


def _is_list(t: Any) -> bool:
    return t is list or get_origin(t) is list


def _is_dict(t: Any) -> bool:
    return t is dict or get_origin(t) is dict


def _structure_list_factory(c: Converter) -> Callable[[Any], Any]:
    """Build list hooks that take a JSON array and nothing else (not a string, not an object)."""

    def factory(t: Any) -> Any:
        return _ListHook(t, list_structure_factory(t, c))

    return factory


class _ListHook:
    """The hook of a list type: a JSON array, each element through cattrs' list hook.

    The fast converter's compiled functions recognise it and inline the array check.
    """

    __slots__ = ("inner", "type")

    def __init__(self, t: Any, inner: Callable[[Any, Any], Any]) -> None:
        self.type = t
        self.inner = inner

    def __call__(self, value: Any, cl: Any) -> Any:
        _require(value, list, "an array")
        return self.inner(value, cl)


def _structure_dict_factory(c: Converter, *, detailed: bool) -> Callable[[Any], Any]:
    """Build dict hooks that take a JSON object; the detailed twin names the failing key."""

    def factory(t: Any) -> Any:
        key_type, value_type = get_args(t) or (Any, Any)

        def hook(value: Any, _: Any) -> Any:
            _require(value, dict, "an object")
            result: dict[Any, Any] = {}
            errors: list[Exception] = []
            for key, item in value.items():
                try:
                    result[c.structure(key, key_type)] = c.structure(item, value_type)
                except Exception as error:
                    if not detailed:
                        raise
                    note = IterableValidationNote(
                        f"Structuring value @ key {key!r}", key, value_type
                    )
                    error.__notes__ = [*getattr(error, "__notes__", []), note]
                    errors.append(error)
            if errors:
                raise IterableValidationError(f"While structuring {t!r}", errors, t)
            return result

        return hook

    return factory


def _structure_decimal(value: Any, _: Any) -> Decimal:
    """Money: a JSON number, kept exact."""
    if type(value) is Decimal:
        return value
    if type(value) is int:
        return Decimal(value)
    raise TypeError(f"expected a number, got {_json_type(value)}")


def _structure_float(value: Any, _: Any) -> float:
    """A non-money number (decoded as Decimal, since every JSON float is)."""
    if type(value) in (Decimal, int, float):
        return float(value)
    raise TypeError(f"expected a number, got {_json_type(value)}")


_UUID_CACHE: dict[str, UUID] = {}
_UUID_CACHE_SIZE = 4096
"""A page repeats the same few UUIDs (the business unit, its users and order sources) on every
order, and UUID() is slow pure Python: equal strings share one (immutable) UUID object."""


def _structure_uuid(value: Any, _: Any) -> UUID:
    """A UUID from its string form."""
    if type(value) is not str:
        raise TypeError(f"expected a UUID string, got {_json_type(value)}")
    cached = _UUID_CACHE.get(value)
    if cached is None:
        cached = UUID(value)
        if len(_UUID_CACHE) >= _UUID_CACHE_SIZE:
            _UUID_CACHE.clear()
        _UUID_CACHE[value] = cached
    return cached


_UUID_CACHE_GET = _UUID_CACHE.get


def _structure_datetime(value: Any, _: Any) -> datetime:
    """Both shapes the API sends; an offset-less time is read as UTC."""
    if type(value) is not str:
        raise TypeError(f"expected a date-time string, got {_json_type(value)}")
    # fromisoformat takes any count of fractional digits from 3.11 on and keeps microseconds.
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _unstructure_str_enum(value: StrEnum) -> str:
    """A string enum's member as its plain string."""
    return str(value.value)


def _unstructure_datetime(value: datetime) -> str:
    """ISO 8601, `Z` for UTC, an offset otherwise."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _structure_attrs_factory(c: Converter, *, detailed: bool) -> Callable[[type[Any]], Any]:
    """Build structure hooks that read each attribute from its JSON key."""
    if not detailed:
        return _StructureCompiler(c).hook

    def factory(cl: type[Any]) -> Any:
        overrides: dict[str, Any] = {
            a.name: override(rename=json_name(a)) for a in attrs.fields(cl)
        }
        inner = make_dict_structure_fn(
            cl,
            c,
            _cattrs_forbid_extra_keys=False,
            _cattrs_detailed_validation=detailed,
            **overrides,
        )

        def hook(value: Any, _: Any) -> Any:
            # Without this a list, a string or null fails inside with a Python error message
            # and a path that names the first field of the model instead of the model's place.
            _require(value, dict, "an object")
            return inner(value, cl)

        return hook

    return factory


_MISSING = object()


class _FastHook:
    """The hook of an attrs class in the fast converter: a compiled one-argument function."""

    __slots__ = ("function",)

    def __init__(self, function: Callable[[Any], Any]) -> None:
        self.function = function

    def __call__(self, value: Any, _: Any) -> Any:
        return self.function(value)


class _StructureCompiler:
    """Compiles one structure function per attrs class for the fast converter.

    cattrs' generated functions call a hook per attribute, and `X | None` goes through a
    dispatch per value. Here the checks of the SDK's own hooks (exact JSON type, UUID,
    date-time, open enums, arrays, nested models) are written inline, so a model costs about
    one function call. Any other type, or a hook registered in place of the SDK's, is called
    as cattrs would. A function accepts exactly what the hooks accept; on bad input it calls
    the hook that explains it, so its errors are the hooks' own.
    """

    def __init__(self, c: Converter) -> None:
        self.converter = c
        self._building: set[type[Any]] = set()

    def hook(self, cl: type[Any]) -> _FastHook:
        """The structure hook factory for attrs classes."""
        if cl in self._building:
            # A class that contains itself: bind late, through the converter.
            return _FastHook(lambda value: self.converter.structure(value, cl))
        self._building.add(cl)
        try:
            return _FastHook(_ClassSource(self, cl).compile())
        finally:
            self._building.discard(cl)

    def element(self, t: Any) -> Callable[[Any], Any]:
        """A one-argument function turning a value into `t` (for the elements of an array)."""
        hook = self.converter.get_structure_hook(t)
        if isinstance(hook, _FastHook):
            return hook.function
        source = _Source()
        body = self.convert(t, source)
        return source.function("structure_element", [*body, "return v"])

    def convert(self, t: Any, source: _Source) -> list[str]:
        """Lines that turn the JSON value in `v` into `t`, in place."""
        hook = self.converter.get_structure_hook(t)
        fail = f"{source.ref(hook)}(v, {source.ref(t)})"
        kind = _STRICT_KINDS.get(hook) if _hashable(hook) else None
        if kind is not None and isinstance(t, type) and issubclass(t, kind):
            return [f"if type(v) is not {source.ref(kind)}: {fail}", *_subclass(t, source)]
        if hook is _structure_uuid:
            cached = source.ref(_UUID_CACHE_GET)
            return [
                f"u = {cached}(v) if type(v) is str else None",
                f"v = {fail} if u is None else u",
            ]
        if hook is _structure_datetime:
            iso, utc = source.ref(datetime.fromisoformat), source.ref(UTC)
            return [
                f"if type(v) is not str: {fail}",
                f"v = {iso}(v)",
                f"if v.tzinfo is None: v = v.replace(tzinfo={utc})",
            ]
        if isinstance(hook, _FastHook):
            return [f"v = {source.ref(hook.function)}(v)"]
        if isinstance(hook, _ListHook):
            return self._array(hook, source)
        optional = _optional_of(t)
        if optional is not None and hook == getattr(self.converter, "_structure_optional", None):
            return ["if v is not None:", *_indent(self.convert(optional, source))]
        return [f"v = {fail}"]

    def _array(self, hook: _ListHook, source: _Source) -> list[str]:
        arguments = get_args(hook.type)
        fail = f"{source.ref(hook)}(v, {source.ref(hook.type)})"
        if not arguments or arguments[0] is Any:
            return [f"v = {fail}"]
        element = source.ref(self.element(arguments[0]))
        return [f"if type(v) is not list: {fail}", f"v = [{element}(e) for e in v]"]


class _Source:
    """The text and the namespace of one compiled function."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"type": type, "str": str, "_MISSING": _MISSING}
        self._names: dict[int, str] = {}

    def ref(self, value: Any) -> str:
        """A global name for a value the function uses."""
        name = self._names.get(id(value))
        if name is None:
            name = f"_g{len(self._names)}"
            self._names[id(value)] = name
            self.namespace[name] = value
        return name

    def function(self, name: str, body: list[str]) -> Callable[[Any], Any]:
        """Compile a one-argument function `def name(v): body` and return it."""
        text = "\n".join([f"def {name}(v):", *_indent(body)]) + "\n"
        filename = f"<godeploy structure {name} {id(self)}>"
        # Registered so that tracebacks and profilers can show the generated lines.
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        exec(compile(text, filename, "exec"), self.namespace)  # noqa: S102 - our own text
        return cast("Callable[[Any], Any]", self.namespace[name])


class _ClassSource:
    """The structure function of one attrs class."""

    def __init__(self, compiler: _StructureCompiler, cl: type[Any]) -> None:
        self._compiler = compiler
        self.converterl = cl
        self._source = _Source()

    def compile(self) -> Callable[[Any], Any]:
        """Write and compile the function (cattrs' own for a default that takes self)."""
        attrs.resolve_types(self.converterl)
        fields = [a for a in attrs.fields(self.converterl) if a.init]
        if any(_factory_of(a.default)[1] for a in fields):
            return self._cattrs_function()
        require = self._source.ref(_require)
        body = [
            "o = v",
            f"if type(o) is not {self._source.ref(dict)}: {require}(o, dict, 'an object')",
        ]
        for number, attribute in enumerate(fields):
            body += self._field(number, attribute)
        arguments = ", ".join(f"{a.alias}=a{n}" for n, a in enumerate(fields))
        body.append(f"return {self._source.ref(self.converterl)}({arguments})")
        return self._source.function(f"structure_{self.converterl.__name__}", body)

    def _cattrs_function(self) -> Callable[[Any], Any]:
        cl = self.converterl
        overrides: dict[str, Any] = {
            a.name: override(rename=json_name(a)) for a in attrs.fields(cl)
        }
        inner = make_dict_structure_fn(
            cl, self._compiler.converter, _cattrs_forbid_extra_keys=False, **overrides
        )
        return lambda value: inner(value, cl)

    def _field(self, number: int, attribute: attrs.Attribute[Any]) -> list[str]:
        """Lines that read one attribute into `a<number>`."""
        key = json_name(attribute)
        convert = self._compiler.convert(attribute.type or Any, self._source)
        store = f"a{number} = v"
        default = attribute.default
        if default is attrs.NOTHING:
            return [f"v = o[{key!r}]", *convert, store]
        if default is None and convert[:1] == ["if v is not None:"]:
            # `X | None = None`: a missing key and null both give None.
            return [f"v = o.get({key!r})", *convert, store]
        factory, _ = _factory_of(default)
        missing = (
            f"{self._source.ref(default)}" if factory is None else f"{self._source.ref(factory)}()"
        )
        return [
            f"v = o.get({key!r}, _MISSING)",
            f"if v is _MISSING: a{number} = {missing}",
            "else:",
            *_indent([*convert, store]),
        ]


_FACTORY: type[Any] = type(attrs.Factory(list))


def _factory_of(default: Any) -> tuple[Callable[..., Any] | None, bool]:
    """An attrs default's factory and whether it takes self; (None, False) for a plain value."""
    if isinstance(default, _FACTORY):
        return default.factory, bool(default.takes_self)
    return None, False


def _subclass(t: type[Any], source: _Source) -> list[str]:
    """Lines that make an exact JSON value into a subclass of its type (an enum member)."""
    if t in _STRICT_KINDS.values():
        return []
    if issubclass(t, Enum):
        members = source.ref(t._value2member_map_.get)
        return [f"m = {members}(v)", f"v = {source.ref(t)}(v) if m is None else m"]
    return [f"v = {source.ref(t)}(v)"]


def _optional_of(t: Any) -> Any:
    """X for `X | None` (or Optional[X]), else None."""
    arguments = get_args(t)
    if len(arguments) == 2 and type(None) in arguments and get_origin(t) in (Union, UnionType):
        return next(a for a in arguments if a is not type(None))
    return None


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _unstructure_attrs_factory(c: Converter) -> Callable[[type[Any]], Any]:
    """Build unstructure hooks that write JSON keys and leave out unset optional fields."""

    def factory(cl: type[Any]) -> Any:
        overrides: dict[str, Any] = {
            a.name: override(rename=json_name(a), omit_if_default=a.default is None)
            for a in attrs.fields(cl)
        }
        return make_dict_unstructure_fn(cl, c, **overrides)

    return factory


def configure_converter(c: Converter, *, detailed: bool = False) -> Converter:
    """Apply the SDK's JSON rules to a converter and return it."""
    c.register_structure_hook(int, _structure_int)
    c.register_structure_hook(str, _structure_str)
    c.register_structure_hook(bool, _structure_bool)
    c.register_structure_hook(float, _structure_float)
    c.register_structure_hook(Decimal, _structure_decimal)
    c.register_structure_hook(UUID, _structure_uuid)
    c.register_structure_hook(datetime, _structure_datetime)
    c.register_unstructure_hook(UUID, str)
    c.register_unstructure_hook(datetime, _unstructure_datetime)
    c.register_unstructure_hook(Decimal, lambda value: value)
    # An enum member (an open `OrderStatus` too) is written as its plain string, so that what
    # `unstructure` gives is what `structure` takes back (it takes exact JSON types only).
    c.register_unstructure_hook(StrEnum, _unstructure_str_enum)
    c.register_structure_hook_factory(_is_list, _structure_list_factory(c))
    c.register_structure_hook_factory(_is_dict, _structure_dict_factory(c, detailed=detailed))
    c.register_structure_hook_factory(attrs.has, _structure_attrs_factory(c, detailed=detailed))
    c.register_unstructure_hook_factory(attrs.has, _unstructure_attrs_factory(c))
    return c


converter = configure_converter(Converter(detailed_validation=False))
"""The SDK's converter: fast, and the one to use."""

# Decoding goes through the fast converter; only a body that fails is decoded again by this twin,
# whose slower detailed validation says where it failed.
_explaining_converter = configure_converter(Converter(detailed_validation=True), detailed=True)


def structure(data: Any, cl: type[T], *, url: Any = None) -> T:
    """Turn decoded JSON into a model, or raise `ResponseValidationError` naming the place."""
    try:
        return converter.structure(data, cl)
    except Exception:  # noqa: BLE001, S110 - the detailed twin below explains any failure
        pass
    try:
        _explaining_converter.structure(data, cl)
    except Exception as error:  # noqa: BLE001 - every shape of cattrs failure becomes one error
        path, reason = _first_failure(error)
        raise ResponseValidationError(
            f"response does not fit {cl.__name__} at {path}: {reason}", path=path, url=url
        ) from None
    # The fast path failed but the detailed one did not: cannot happen with these hooks.
    raise ResponseValidationError(f"response does not fit {cl.__name__}", url=url)


def decode_json(body: bytes | str, *, url: Any = None) -> Any:
    """Parse a JSON body with exact decimals, or raise `ResponseValidationError`."""
    try:
        return _DECODER.decode(_json_text(body))
    except (ValueError, RecursionError) as error:
        raise ResponseValidationError(f"response is not JSON: {error}", url=url) from None


def _refuse_constant(name: str) -> Any:
    """`NaN` and `Infinity` are Python's extensions, not JSON."""
    raise ValueError(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_refuse_constant)
"""One decoder for every body: json.loads with these options would build one (and its scanner)
per call."""


def _json_text(body: bytes | str) -> str:
    """The text of a body, exactly as json.loads reads it (encoding detected, BOM refused)."""
    if isinstance(body, str):
        if body.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", body, 0)
        return body
    if not isinstance(body, (bytes, bytearray)):
        raise TypeError(
            f"the JSON object must be str, bytes or bytearray, not {type(body).__name__}"
        )
    return body.decode(json.detect_encoding(body), "surrogatepass")


def structure_json(body: bytes | str, cl: type[T], *, url: Any = None) -> T:
    """Parse a JSON body and turn it into a model."""
    return structure(decode_json(body, url=url), cl, url=url)


def unstructure(model: Any) -> Any:
    """Turn a model into JSON-ready data with the API's key names."""
    return converter.unstructure(model)


def dumps(model: Any) -> str:
    """Serialise a model to compact JSON text, decimals written exactly (`48.0000`)."""
    return _write(unstructure(model))


def _write(value: Any) -> str:
    """Write JSON-ready data as JSON text.

    json.dumps cannot write a Decimal as a number without going through a binary float (its
    encoders call float.__repr__, so `48.0000` would come out as `48.0` and long decimals
    rounded), hence this small writer.
    """
    if isinstance(value, str):
        return json.dumps(value)
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value, allow_nan=False)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        return str(value)
    if isinstance(value, dict):
        members = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"cannot write the key {key!r} as JSON: keys are strings")
            members.append(json.dumps(key) + ":" + _write(item))
        return "{" + ",".join(members) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_write(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _json_type(value: Any) -> str:
    """Name a value's JSON type for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _first_failure(error: BaseException) -> tuple[str, str]:
    """Walk a cattrs error tree to its first leaf; return its JSON path and reason."""
    path = "$"
    current: BaseException = error
    while isinstance(current, (ClassValidationError, IterableValidationError)):
        if not current.exceptions:
            break
        inner = current.exceptions[0]
        notes = getattr(inner, "__notes__", [])
        note = next((n for n in notes if hasattr(n, "name") or hasattr(n, "index")), None)
        if isinstance(current, ClassValidationError) and hasattr(note, "name"):
            path += "." + _json_key(current.cl, note.name)  # type: ignore[union-attr]
        elif hasattr(note, "index"):
            path += _index_step(note.index)  # type: ignore[union-attr]
        current = inner
    if isinstance(current, ForbiddenExtraKeysError):
        return path, f"unexpected keys {sorted(current.extra_fields)}"
    if isinstance(current, KeyError):
        return path, "required field is missing"
    reason = str(current) or type(current).__name__
    return path, reason


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _index_step(index: Any) -> str:
    """A path step for a list index (`[3]`) or an object key (`.name`, `["odd key"]`)."""
    if isinstance(index, str):
        return f".{index}" if _PLAIN_KEY.match(index) else f"[{json.dumps(index)}]"
    return f"[{index}]"


def _json_key(cl: Any, attribute_name: str) -> str:
    """Map an attribute name back to its JSON key."""
    if attrs.has(cl):
        for attribute in attrs.fields(cl):
            if attribute.name == attribute_name:
                return json_name(attribute)
    return attribute_name
