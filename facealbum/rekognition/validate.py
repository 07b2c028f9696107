"""Requests checked against botocore's service model for Rekognition, as AWS checks
them before an operation runs: a member of the wrong JSON type is a
``SerializationException``; a length, range, pattern or enum violation (and a missing
required member) a ``ValidationException`` worded as AWS words it::

    1 validation error detected: Value 'no spaces' at 'userId' failed to satisfy
    constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.\\-:]+

Image bytes (blobs) are only type-checked here: their size is the operation's
ImageTooLargeException, their content its InvalidImageFormatException. Members the
model does not know are ignored, as AWS ignores them.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # botocore loads with the first request's model, not at a server's start
    from botocore.model import OperationModel, ServiceModel, Shape

from .sigv4 import AwsError


@functools.cache
def service_model() -> ServiceModel:
    import botocore.session

    return botocore.session.get_session().get_service_model("rekognition")


def operation(name: str) -> OperationModel:
    return service_model().operation_model(name)


@functools.cache
def _pattern(pattern: str) -> re.Pattern | None:
    try:
        return re.compile(pattern)
    except re.error:  # Java-only syntax (\p{L}) in shapes no face operation takes
        return None


def validate(op: str, params: dict[str, Any]) -> None:
    """Raise AwsError (SerializationException or ValidationException, 400) unless
    ``params`` fit the input shape of Rekognition's operation ``op``."""
    shape = operation(op).input_shape
    if shape is None:
        return
    errors = _Errors()
    _check(params, shape, "", errors)
    if errors.count:
        n = errors.count
        more = "; ..." if n > len(errors.shown) else ""
        raise AwsError(
            "ValidationException",
            f"{n} validation error{'s' if n > 1 else ''} detected: "
            + "; ".join(errors.shown)
            + more,
        )


class _Errors:
    """The violations found: all counted, the first ``SHOWN`` kept for the message, so
    that a body of a million bad list members (a few MB, under the body cap) is not
    answered with hundreds of MB of message."""

    SHOWN = 10

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.count = 0

    def append(self, error: str) -> None:
        self.count += 1
        if len(self.shown) < self.SHOWN:
            self.shown.append(error)


def _type_ok(value: Any, t: str) -> bool:
    if t == "structure" or t == "map":
        return isinstance(value, dict)
    if t == "list":
        return isinstance(value, list)
    if t in ("string", "blob"):
        return isinstance(value, str)
    if t == "boolean":
        return isinstance(value, bool)
    if t in ("integer", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if t in ("float", "double"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if t == "timestamp":
        return isinstance(value, int | float | str) and not isinstance(value, bool)
    return True


def _check(value: Any, shape: Shape, where: str, errors: _Errors) -> None:
    t = shape.type_name
    if not _type_ok(value, t):
        raise AwsError(
            "SerializationException",
            f"Expected {t} at '{where or 'body'}', got {type(value).__name__}",
        )
    meta = shape.metadata
    if t == "structure":
        for name in shape.required_members:
            if value.get(name) is None:
                errors.append(_error(None, _path(where, name), "Member must not be null"))
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check(value[name], member, _path(where, name), errors)
        return
    if t == "list":
        _bounds(value, len(value), meta, "length", where, errors)
        for i, item in enumerate(value):
            _check(item, shape.member, f"{where}.{i + 1}.member", errors)
        return
    if t == "map":
        for k, v in value.items():
            _check(v, shape.value, f"{where}.{k}", errors)
        return
    if t == "string":
        _bounds(value, len(value), meta, "length", where, errors)
        if shape.enum and value not in shape.enum:
            errors.append(
                _error(
                    value, where, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
                )
            )
        pattern = meta.get("pattern")
        compiled = _pattern(pattern) if pattern else None
        if compiled is not None and not compiled.fullmatch(value):
            errors.append(
                _error(value, where, f"Member must satisfy regular expression pattern: {pattern}")
            )
        return
    if t in ("integer", "long", "float", "double"):
        _bounds(value, value, meta, "value", where, errors)


def _bounds(value: Any, size: float, meta: dict, what: str, where: str, errors: _Errors) -> None:
    if "min" in meta and size < meta["min"]:
        errors.append(
            _error(value, where, f"Member must have {what} greater than or equal to {meta['min']}")
        )
    if "max" in meta and size > meta["max"]:
        errors.append(
            _error(value, where, f"Member must have {what} less than or equal to {meta['max']}")
        )


def _path(where: str, name: str) -> str:
    camel = name[:1].lower() + name[1:]
    return f"{where}.{camel}" if where else camel


def _error(value: Any, where: str, constraint: str) -> str:
    shown = "null" if value is None else str(value)
    if len(shown) > 100:
        shown = shown[:100] + "..."
    return f"Value '{shown}' at '{where}' failed to satisfy constraint: {constraint}"
