"""How sources map to CRM records: stage maps, titles, tags, phone region, topics.

Owned by the mapping layer; `adapter.settings` embeds it as the `[mapping]`
table of the config file.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class MappingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_phone_region: str = "EG"
