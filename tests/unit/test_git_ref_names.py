"""Targets and deleted branches: exactly the names `git check-ref-format --branch` accepts.

Judged against the real git binary, in both directions, with Hypothesis-drawn names: every
name git accepts (UTF-8 included) is accepted by `POST /build-complete` and
`POST /branch-deleted` and gets DNS-safe names; every name git refuses is a 422 naming the
field. The one limit of ours: at most 255 characters (the column that keeps it; git's
files backend and the forges stop near there too).

git runs outside any repository, where `--branch` takes a name as it is (inside one, `@`
and `@{-1}` would be read as "the current/previous branch").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cibot.adapters import webhooks
from cibot.domain.build import BuildType
from cibot.domain.naming import (
    environment_name,
    is_dns_label,
    is_dns_name,
    is_label_value,
    label_value,
    preview_host,
)
from cibot.entrypoints.web.app import create_app
from cibot.entrypoints.web.metrics import Metrics
from cibot.entrypoints.web.notification import is_git_branch_name
from cibot.entrypoints.web.signed import Intake
from tests.support.fakes import FakeClock, MemoryStore
from tests.support.usecases import PROJECT

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git binary")

SECRET = "ref-secret"
NOT_A_REPOSITORY = Path("/")  # git's ceiling below: never inside a repository


def git_accepts(name: str) -> bool:
    done = subprocess.run(
        ["git", "check-ref-format", "--branch", name],
        cwd=NOT_A_REPOSITORY,
        env={**os.environ, "GIT_CEILING_DIRECTORIES": "/", "GIT_DIR": "/nonexistent"},
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


async def _ready() -> bool:
    return True


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    intake = Intake(MemoryStore(), FakeClock(), {PROJECT.id: PROJECT}, (SECRET,), 16384)
    transport = httpx.ASGITransport(app=create_app(intake, Metrics(), _ready))
    async with httpx.AsyncClient(transport=transport, base_url="http://cibot") as http:
        yield http


async def answered(client: httpx.AsyncClient, name: str, route: str = "build-complete") -> int:
    fields = {"project": "shop", "image": "r.example/shop:1", "type": "tag", "target": name}
    if route == "branch-deleted":
        fields = {"project": "shop", "branch": name}
    body = json.dumps(fields).encode()
    headers = {
        **webhooks.headers(SECRET, body, now=time.time()),
        "content-type": "application/json",
    }
    response = await client.post(f"/{route}", content=body, headers=headers)
    if response.status_code == 422:
        assert response.json()["field"] in ("target", "branch"), response.text
    return response.status_code


def test_git_check_ref_format_runs_outside_any_repository() -> None:
    assert git_accepts("feature/login") and not git_accepts("feature..login")
    assert git_accepts("@")  # inside a repository, `@` would mean the current branch


# Names made of the parts git's rules are about, so both verdicts come up often.
_PARTS = ["a", "Z", "0", "-", ".", "/", "@", "{", "}", "..", ".lock", "HEAD", "~", "^", ":",
          "?", "*", "[", "\\", " ", "\t", "\x7f", "\x01", "ü", "ñ", "日本", "🚀", "\u0085",
          "\u200b", "\u202e", "refs/heads/"]  # fmt: skip
ref_like = st.lists(st.sampled_from(_PARTS), min_size=1, max_size=12).map("".join)
any_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
names = st.one_of(ref_like, any_text)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names, route=st.sampled_from(["build-complete", "branch-deleted"]))
async def test_a_name_is_accepted_exactly_when_git_accepts_it(
    client: httpx.AsyncClient, name: str, route: str
) -> None:
    accepted = git_accepts(name)
    event(f"git {'accepts' if accepted else 'refuses'}")

    status = await answered(client, name, route)

    assert status == (202 if accepted else 422), (name, status)


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("feature/ünïcödé", True),
        ("日本語/ブランチ", True),
        ("release-🚀", True),
        ("@", True),
        ("foo/HEAD", True),
        ("refs/heads/main", True),
        ("HEAD", False),
        ("-leading-dash", False),
        ("a/.hidden", False),
        ("x.lock", False),
        ("x@{1}", False),
        ("tab\there", False),
    ],
)
async def test_examples_of_each_verdict_agree_with_git(
    client: httpx.AsyncClient, name: str, accepted: bool
) -> None:
    assert git_accepts(name) is accepted
    assert await answered(client, name) == (202 if accepted else 422)


async def test_a_name_longer_than_255_characters_is_a_422_though_git_takes_it(
    client: httpx.AsyncClient,
) -> None:
    assert git_accepts("a" * 256)
    assert await answered(client, "a" * 255) == 202
    assert await answered(client, "a" * 256) == 422


# The test above proves the route's rule and git's the same, so the naming properties below
# draw git's names through the rule (a git process per draw would be most of their time).
git_names = names.filter(is_git_branch_name)


@settings(max_examples=300, deadline=None)
@given(name=git_names, kind=st.sampled_from(BuildType))
def test_every_name_git_accepts_gets_dns_safe_names(name: str, kind: BuildType) -> None:
    assert is_dns_label(environment_name("shop", kind, name))
    assert is_dns_name(preview_host("shop.example.com", kind, name))
    assert is_label_value(label_value(name))


@settings(max_examples=300, deadline=None)
@given(a=git_names, b=git_names, kind=st.sampled_from(BuildType))
def test_two_names_git_accepts_never_share_an_environment(a: str, b: str, kind: BuildType) -> None:
    if a != b:
        assert environment_name("shop", kind, a) != environment_name("shop", kind, b)
        assert preview_host("shop.example.com", kind, a) != preview_host(
            "shop.example.com", kind, b
        )
