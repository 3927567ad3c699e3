"""The base of every config section, and `refuse`: how a rule over several keys names them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

from cibot.config.problems import Loc

REFUSED = "cibot_config"  # the pydantic error type carrying `refuse` problems


def refuse(*problems: tuple[Loc, str]) -> PydanticCustomError:
    """An error naming keys (relative to the validated model) and what is wrong with each."""
    summary = "; ".join(message for _, message in problems)
    return PydanticCustomError(REFUSED, "{summary}", {"summary": summary, "problems": problems})


class Section(BaseModel):
    """Frozen, and strict about keys: a typo is an error, never a silently ignored setting."""

    model_config = ConfigDict(frozen=True, extra="forbid")
