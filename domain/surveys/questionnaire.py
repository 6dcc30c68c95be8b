"""Questionnaires (SV-Q-1): dimensions -> items; answers 1-5 (5 = very satisfied) or
`unable_to_comment`, which is excluded from every score."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import InvalidInput

UNABLE = "unable_to_comment"


@dataclass(frozen=True)
class Item:
    key: str
    text: str


@dataclass(frozen=True)
class Dimension:
    key: str
    text: str
    items: tuple[Item, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))


@dataclass(frozen=True)
class Questionnaire:
    dimensions: tuple[Dimension, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", tuple(self.dimensions))
        keys = [item.key for d in self.dimensions for item in d.items]
        if not keys:
            raise InvalidInput("dimensions", "a questionnaire needs at least one item")
        if len(keys) != len(set(keys)):
            raise InvalidInput("dimensions", "item keys must be unique")

    @property
    def item_keys(self) -> tuple[str, ...]:
        return tuple(item.key for d in self.dimensions for item in d.items)

    def dimension_of(self, item_key: str) -> str:
        for dimension in self.dimensions:
            if any(item.key == item_key for item in dimension.items):
                return dimension.key
        raise InvalidInput("answers", f"unknown item {item_key!r}")


def _dimension(key: str, text: str, *items: tuple[str, str]) -> Dimension:
    return Dimension(key, text, tuple(Item(k, t) for k, t in items))


# SV-Q-1 (003 6.1.5): 4 dimensions, 14 items, the default for periodic surveys.
DEFAULT_PERIODIC = Questionnaire((
    _dimension("personnel", "人员 personnel",
               ("market_staff", "市场人员素质 market staff"),
               ("engineering_staff", "工程人员素质 engineering staff")),
    _dimension("service", "服务 service",
               ("response_speed", "响应速度 response speed"),
               ("on_time_delivery", "按期交付能力 on-time delivery"),
               ("installation", "工程安装 installation"),
               ("user_training", "用户培训 user training"),
               ("maintenance_warranty", "维护保修 maintenance and warranty")),
    _dimension("product", "产品 product",
               ("operating_stability", "产品运行稳定性 operating stability"),
               ("performance", "性能指标 performance"),
               ("functions", "产品功能 functions"),
               ("price", "产品价格 price")),
    _dimension("technology", "技术 technology",
               ("solution", "解决方案 solution"),
               ("technical_exchange", "技术交流效果 technical exchange"),
               ("scheme_design", "方案设计 scheme design")),
))
