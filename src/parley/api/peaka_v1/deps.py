"""Dependencies of the /api/v1 routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from parley.api.deps import StateDep
from parley.data.connections import DataServices


async def get_data(state: StateDep) -> DataServices:
    return state.data


DataDep = Annotated[DataServices, Depends(get_data)]
