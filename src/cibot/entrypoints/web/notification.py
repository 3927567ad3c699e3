"""The fields of a CI request (a build notification, a deleted branch), parsed from form or
JSON and checked for syntax.

The original bot took `project`, `image`, `type` and `target` as a form; JSON with the same
names (plus `commit`, `author`, `build_number`, `ci_url`) is accepted too. Anything else is
refused by name, so a payload cannot ask for another namespace or for production (T10).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qsl

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from cibot.entrypoints.web.storable import is_storable, unstorable

# An image reference as the distribution spec defines it: [host[:port]/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?/)"
IMAGE = re.compile(
    rf"^{_HOST}?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@sha256:[a-f0-9]{{64}})?$"
)
# A git ref name (branch or tag) by `git check-ref-format --branch`'s rules (what git calls
# `refs/heads/<name>`): none of the control characters, space, DEL, `~ ^ : ? * [ \`; no
# `..`, `@{`, `//`; no component starting with `.` or ending with `.lock`; bytes past ASCII
# are git's to take, so UTF-8 names are names.
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(?:/|$)")
TARGET_MAX = 255  # the column's width; git's files backend and the forges stop near it too


def _check_image(value: str) -> str:
    if not IMAGE.fullmatch(value):
        raise ValueError("not an image reference like registry.example.com/team/app:1.2")
    return value


def is_git_branch_name(value: str) -> bool:
    """What `git check-ref-format --branch` accepts (outside a repository, where `@` is a
    name, not the current branch)."""
    if not is_storable(value) or _REF_FORBIDDEN.search(value):
        return False
    if value.startswith(("-", "/", ".")) or value.endswith(("/", ".")):
        return False
    return value != "HEAD"  # `refs/heads/HEAD` is refused by name


# A link to the CI run: http(s)://, then 1 to 2000 characters that are not white space
# (`^https?://\S{1,2000}$`). Checked as a pattern with no count and a length: pydantic compiles
# patterns with Rust's regex crate, which unrolls `\S{1,2000}` into 2000 states, tens of
# milliseconds of every start of `cibot serve` (bench/coldstart.py). The same rule.
CI_URL_CHARS = 2000


def _check_ci_url(value: str) -> str:
    scheme = "https://" if value.startswith("https://") else "http://"
    if len(value) - len(scheme) > CI_URL_CHARS:
        raise ValueError(f"a link of at most {CI_URL_CHARS} characters after {scheme}")
    return value


def _check_target(value: str) -> str:
    if not is_git_branch_name(value):
        raise ValueError("not a valid git branch or tag name")
    return value


Image = Annotated[
    str, StringConstraints(min_length=1, max_length=512), AfterValidator(_check_image)
]
CiUrl = Annotated[str, StringConstraints(pattern=r"^https?://\S+$"), AfterValidator(_check_ci_url)]
Target = Annotated[
    str, StringConstraints(min_length=1, max_length=TARGET_MAX), AfterValidator(_check_target)
]


class BuildNotification(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    project: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    image: Image
    type: Literal["branch", "tag"]
    target: Target
    commit: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{7,64}$")] | None = None
    author: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    build_number: Annotated[int, Field(ge=0, le=2**53)] | None = None
    ci_url: CiUrl | None = None


class InvalidNotification(Exception):
    """The body is not a valid notification; `field` names the culprit where there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def check_storable(fields: dict[str, Any]) -> None:
    """InvalidNotification naming the first text in `fields` that no database could store (a
    NUL, an unpaired surrogate)."""
    where = unstorable(fields)
    if where is not None:
        message = f"field '{where}' holds a NUL character or an unpaired surrogate"
        raise InvalidNotification(message, where)


def parse_fields(body: bytes, content_type: str) -> dict[str, Any]:
    """The raw field dict from a JSON or form body; InvalidNotification if it is neither.
    What the fields hold is checked later (`check_storable`, `validate`), once the caller
    knows the project they are for."""
    if "json" in content_type:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidNotification("the body is not valid JSON") from exc
        except RecursionError as exc:  # `[[[[…` nested past the parser's depth: still junk
            raise InvalidNotification("the body is nested too deeply to be a notification") from exc
        if not isinstance(data, dict):
            raise InvalidNotification("the JSON body must be an object")
        return data
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidNotification("the body is not a valid form") from exc
    fields: dict[str, Any] = {}
    for key, value in pairs:
        if key in fields:
            raise InvalidNotification(f"field '{key}' is given twice", key)
        fields[key] = value
    return fields


class BranchDeletion(BaseModel):
    """`POST /branch-deleted`: CI (or the forge) says a branch is gone; the same git ref rules."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    project: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    branch: Target


Model = TypeVar("Model", bound=BaseModel)


def validate(fields: dict[str, Any], model: type[Model]) -> Model:
    """The fields as `model`; InvalidNotification naming the first field that is wrong."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or None
        if error["type"] == "extra_forbidden":
            raise InvalidNotification(f"unknown field '{field}'", field) from exc
        if error["type"] == "missing":
            raise InvalidNotification(f"field '{field}' is required", field) from exc
        message = str(error["msg"]).removeprefix("Value error, ")
        raise InvalidNotification(f"invalid field '{field}': {message}", field) from exc
