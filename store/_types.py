"""Portable column types and the column helper shared by every table module."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.mutable import MutableDict
from sqlmodel import Field, SQLModel

#: Constraint names every migration can rely on (SQLite batch mode needs named constraints).
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: The metadata holding every b2sync table (SQLModel's registry, with our naming convention).
metadata: sa.MetaData = SQLModel.metadata
metadata.naming_convention = NAMING_CONVENTION

_MISSING: Any = object()


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that only accepts aware datetimes and returns aware UTC ones.

    SQLite has no time zones: values are stored as UTC text and read back with ``tzinfo=UTC``,
    so code behaves the same on SQLite and PostgreSQL.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Normalise to UTC; refuse naive datetimes, which would be ambiguous."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            msg = f"naive datetime {value.isoformat()} given; pass an aware UTC datetime"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Return an aware UTC datetime whatever the backend's session time zone."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class StrEnumType(sa.types.TypeDecorator[StrEnum]):
    """A ``VARCHAR`` holding a :class:`StrEnum` value; unknown values are refused on write.

    No database CHECK constraint: adding a member later needs no migration.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, enum_cls: type[StrEnum], length: int = 16) -> None:
        super().__init__(length)
        self.enum_cls = enum_cls

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        """Store the member's value; a string outside the enum raises ``ValueError``."""
        del dialect
        return None if value is None else self.enum_cls(value).value

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> StrEnum | None:
        """Read back the enum member."""
        del dialect
        return None if value is None else self.enum_cls(value)


def json_dict() -> sa.types.TypeEngine[Any]:
    """A JSON object column whose in-place top-level changes are tracked by the session."""
    return MutableDict.as_mutable(sa.JSON())


def column(
    type_: sa.types.TypeEngine[Any],
    *fk: sa.ForeignKey,
    nullable: bool = False,
    default: Any = _MISSING,
    default_factory: Any = None,
    **kwargs: Any,
) -> Any:
    """A SQLModel field backed by an explicit ``sa.Column`` (NOT NULL unless ``nullable``)."""
    sa_column = sa.Column(type_, *fk, nullable=nullable, **kwargs)
    if default_factory is not None:
        return Field(default_factory=default_factory, sa_column=sa_column)
    if default is _MISSING:
        return Field(sa_column=sa_column)
    return Field(default=default, sa_column=sa_column)
