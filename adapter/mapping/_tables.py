"""Building blocks of the `[mapping.*]` config tables: stage ids, stage maps, title templates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from adapter.crm.normalize import normalize_stage
from adapter.mapping._titles import check_template


def over(defaults: Mapping[str, str]) -> BeforeValidator:
    """A stage map from the config file merged over `defaults`, its keys lowercased."""

    def merge(value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {**defaults, **{str(key).strip().lower(): stage for key, stage in value.items()}}

    return BeforeValidator(merge)


def _stage(value: str) -> str:
    stage = normalize_stage(value)
    if stage is None:
        raise ValueError(f"{value!r} is not a pipeline stage id (letters, digits, _ and -)")
    return stage


Stage = Annotated[str, AfterValidator(_stage)]


def title(allowed: set[str], identifying: set[str]) -> AfterValidator:
    """A title template using only `allowed` placeholders, at least one `identifying`."""
    return AfterValidator(lambda value: check_template(value, allowed, identifying))


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid")
