"""Transcodings for everything the domain stores in events (dates, times, durations,
enums, value objects), so each comes back from the store as the type it was.

Domain enums and frozen dataclasses are discovered from the `domain` package: a
new value object is stored correctly without anyone remembering to register it.
Their stored names are `<module under domain>:<class>`; renaming or moving one
needs an alias registered here.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from datetime import date, time, timedelta
from enum import Enum
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, Transcoding

import domain


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class TimeAsISO(Transcoding):
    type = time
    name = "time_iso"

    def encode(self, obj: time) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> time:
        return time.fromisoformat(data)


class TimedeltaAsSeconds(Transcoding):
    type = timedelta
    name = "timedelta_s"

    def encode(self, obj: timedelta) -> float:
        return obj.total_seconds()

    def decode(self, data: float) -> timedelta:
        return timedelta(seconds=data)


def stored_name(cls: type) -> str:
    return f"{cls.__module__.removeprefix('domain.')}:{cls.__qualname__}"


class EnumTranscoding(Transcoding):
    def __init__(self, cls: type[Enum]) -> None:
        self.type = cls
        self.name = stored_name(cls)

    def encode(self, obj: Enum) -> Any:
        return obj.value

    def decode(self, data: Any) -> Enum:
        return self.type(data)


class DataclassTranscoding(Transcoding):
    """Shallow: field values are encoded in turn by the transcoder, so nested value
    objects work. Lists come back as tuples: value objects hold tuples only."""

    def __init__(self, cls: type) -> None:
        self.type = cls
        self.name = stored_name(cls)
        self.field_names = [f.name for f in dataclasses.fields(cls)]

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self.field_names}

    def decode(self, data: dict[str, Any]) -> Any:
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return self.type(**values)


def domain_value_types() -> list[type]:
    """Every Enum and dataclass defined in the domain package."""
    found: dict[str, type] = {}
    for module_info in pkgutil.walk_packages(domain.__path__, prefix="domain."):
        module = importlib.import_module(module_info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ != module.__name__:
                continue
            if issubclass(obj, Aggregate):
                continue  # aggregates are stored as their events, never as values
            if (issubclass(obj, Enum) and obj is not Enum) or dataclasses.is_dataclass(obj):
                found[stored_name(obj)] = obj
    return list(found.values())


def register_all(transcoder: JSONTranscoder) -> None:
    for transcoding in (DateAsISO(), TimeAsISO(), TimedeltaAsSeconds()):
        transcoder.register(transcoding)
    for cls in domain_value_types():
        if issubclass(cls, Enum):
            transcoder.register(EnumTranscoding(cls))
        else:
            transcoder.register(DataclassTranscoding(cls))
