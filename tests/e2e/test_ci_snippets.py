"""CI tells ci-bot about a build without installing it: the GitHub Action (action.yml), the
GitLab CI template and the plain shell snippet (ci/notify.sh, curl and openssl).

The two CI files are checked against the schemas check-jsonschema ships for them; then each
one's script is run here, as its CI would run it, against the real `cibot serve`.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from cibot.fakeslack import FakeSlackServer
from tests.support.flow import card_saying
from tests.support.service import CibotProcess
from tests.support.shop import CHANNEL, SECRET, Launch

pytestmark = pytest.mark.kubernetes
ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "ci" / "notify.sh"
ACTION = ROOT / "action.yml"
GITLAB = ROOT / "ci" / "gitlab" / "cibot.gitlab-ci.yml"
CHECK_JSONSCHEMA = str(Path(sys.executable).with_name("check-jsonschema"))


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """What CI sends does not depend on the database: SQLite only."""
    return sqlite_url


def sh(script: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a script with /bin/sh (dash here: POSIX, as on a CI image), only `env` set."""
    return subprocess.run(
        ["/bin/sh", "-c", script],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ci_env(url: str, **extra: str) -> dict[str, str]:
    return {
        "CIBOT_URL": url, "CIBOT_WEBHOOK_SECRET": SECRET, "CIBOT_PROJECT": "shop",
        "CIBOT_IMAGE": "registry.example.test/shop/web:9", "CIBOT_TYPE": "branch",
        **extra,
    }  # fmt: skip


def build_id_of(stdout: str) -> str:
    match = re.search(r"accepted: build (\S+)", stdout)
    assert match, stdout
    return match.group(1)


@pytest.mark.parametrize(
    ("path", "schema"),
    [(ACTION, "vendor.github-actions"), (GITLAB, "vendor.gitlab-ci")],
    ids=["github-action", "gitlab-template"],
)
def test_the_ci_files_match_their_published_schemas(path: Path, schema: str) -> None:
    done = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", schema, str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr


async def test_the_shell_snippet_sends_a_signed_build_that_cibot_accepts(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    env = ci_env(cibot.url, CIBOT_TARGET="feature/login-17", CIBOT_COMMIT="abc1234",
                 CIBOT_BUILD_NUMBER="17", CIBOT_AUTHOR="dev@example.com")  # fmt: skip

    done = sh(SNIPPET.read_text(), env)

    assert done.returncode == 0, done.stderr
    card = await card_saying(fake_slack, CHANNEL, build_id_of(done.stdout), "abc1234")
    assert "feature/login-17" in card.visible_text


def test_the_shell_snippet_exits_one_when_refused_and_three_when_unreachable(
    cibot: CibotProcess,
) -> None:
    snippet = SNIPPET.read_text()
    wrong = sh(snippet, ci_env(cibot.url, CIBOT_TARGET="main", CIBOT_WEBHOOK_SECRET="x"))
    quoted = sh(snippet, ci_env(cibot.url, CIBOT_TARGET='a"b\\c'))
    bad = sh(snippet, ci_env(cibot.url, CIBOT_TARGET="main", CIBOT_BUILD_NUMBER="7a"))
    away = sh(snippet, ci_env("http://127.0.0.1:9", CIBOT_TARGET="main", CIBOT_RETRIES="1"))
    unset = sh(snippet, {"CIBOT_URL": cibot.url})

    assert wrong.returncode == 1 and "cibot-notify: refused: 401" in wrong.stderr
    # quotes and backslashes are escaped: the body parses, and the field is judged on its merits
    assert quoted.returncode == 1 and "invalid field 'target'" in quoted.stderr
    assert bad.returncode == 2 and "CIBOT_BUILD_NUMBER is not a number" in bad.stderr
    assert away.returncode == 3 and "cannot reach" in away.stderr
    assert unset.returncode == 2 and "CIBOT_WEBHOOK_SECRET is not set" in unset.stderr


async def test_the_shell_snippet_signs_with_a_whsec_secret_as_the_spec_says(
    launch: Launch, fake_slack: FakeSlackServer
) -> None:
    secret = "whsec_" + base64.b64encode(b"a key of raw bytes \x00\xff").decode().rstrip("=")
    cibot = launch(webhook_secret=secret)

    done = sh(SNIPPET.read_text(), ci_env(cibot.url, CIBOT_TARGET="main",
                                          CIBOT_WEBHOOK_SECRET=secret))  # fmt: skip

    assert done.returncode == 0, done.stderr
    await card_saying(fake_slack, CHANNEL, build_id_of(done.stdout), "main")


def expand(text: str, context: Mapping[str, Any]) -> str:
    """`${{ a.b }}` as GitHub expands it, for the plain lookups and the one `&& ||` used here."""

    def value(expression: str) -> str:
        expression = expression.strip()
        choice = re.fullmatch(
            r"startsWith\(github\.ref, '(.*)'\) && '(.*)' \|\| '(.*)'", expression
        )
        if choice:
            prefix, yes, no = choice.groups()
            return yes if str(context["github"]["ref"]).startswith(prefix) else no
        found: Any = context
        for part in expression.split("."):
            found = found.get(part, "") if isinstance(found, Mapping) else ""
        return str(found)

    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: value(m.group(1)), text)


async def test_the_github_action_runs_the_snippet_with_the_workflows_context(
    cibot: CibotProcess, fake_slack: FakeSlackServer, tmp_path: Path
) -> None:
    action = yaml.safe_load(ACTION.read_text())
    github = {
        "ref": "refs/tags/v1.2.0", "ref_name": "v1.2.0", "sha": "0123456789abcdef",
        "run_number": "41", "server_url": "https://github.example.com",
        "repository": "acme/shop", "run_id": "99",
        "event": {"head_commit": {"author": {"email": "dev@example.com"}}},
    }  # fmt: skip
    given = {"url": cibot.url, "secret": SECRET, "project": "shop",
             "image": "registry.example.test/shop/web:1.2.0"}  # fmt: skip
    inputs = {
        name: given.get(name, expand(str(spec.get("default", "")), {"github": github}))
        for name, spec in action["inputs"].items()
    }
    (step,) = action["runs"]["steps"]
    context = {"github": github, "inputs": inputs}
    env = {k: expand(str(v), context) for k, v in step["env"].items()}
    output = tmp_path / "github-output"
    env |= {"GITHUB_ACTION_PATH": str(ROOT), "GITHUB_OUTPUT": str(output)}

    done = sh(step["run"], env)

    assert done.returncode == 0, done.stderr
    assert action["outputs"]["build-id"]["value"] == "${{ steps.notify.outputs.build-id }}"
    assert step["id"] == "notify"
    build_id = build_id_of(done.stdout)
    assert output.read_text() == f"build-id={build_id}\n"
    card = await card_saying(fake_slack, CHANNEL, build_id, "v1.2.0")
    assert "tag" in card.visible_text.lower()


def test_the_gitlab_template_runs_the_very_same_snippet() -> None:
    job = yaml.safe_load(GITLAB.read_text())[".cibot-notify"]
    snippet = SNIPPET.read_text()

    (script,) = job["script"]
    assert script == snippet[snippet.index("set -eu\n") :]


async def test_the_gitlab_template_sends_a_tag_build_with_the_pipelines_variables(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    job = yaml.safe_load(GITLAB.read_text())[".cibot-notify"]
    pipeline = {
        "CI_COMMIT_REF_NAME": "v2.0.0", "CI_COMMIT_TAG": "v2.0.0", "CI_COMMIT_SHA": "fedcba98",
        "GITLAB_USER_EMAIL": "dev@example.com", "CI_PIPELINE_IID": "8",
        "CI_PIPELINE_URL": "https://gitlab.example.com/acme/shop/-/pipelines/8",
    }  # fmt: skip
    variables = dict(job["variables"])
    for rule in job["rules"]:  # the first rule that applies, as GitLab takes it
        condition = rule.get("if", "")
        if not condition or pipeline.get(condition.lstrip("$")):
            variables |= rule.get("variables", {})
            break
    env = {k: re.sub(r"\$(\w+)", lambda m: pipeline.get(m.group(1), ""), str(v))
           for k, v in variables.items()}  # fmt: skip
    env |= {"CIBOT_URL": cibot.url, "CIBOT_WEBHOOK_SECRET": SECRET, "CIBOT_PROJECT": "shop",
            "CIBOT_IMAGE": "registry.example.test/shop/web:2.0.0"}  # fmt: skip

    done = sh(job["script"][0], env)

    assert done.returncode == 0, done.stderr
    card = await card_saying(fake_slack, CHANNEL, build_id_of(done.stdout), "v2.0.0")
    assert "fedcba9" in card.visible_text
