"""The command line as CI and operators use it: `cibot notify` and `cibot check`."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from cibot.fakeslack import FakeSlackServer
from tests.support.service import CibotProcess, free_port, run_cli
from tests.support.shop import SECRET

pytestmark = pytest.mark.kubernetes


def notify(url: str, *extra: str, secret: str = SECRET) -> Any:
    return run_cli(
        "notify", "--url", url, "--secret", secret, "--project", "shop",
        "--type", "branch", "--target", "main", *extra,
    )  # fmt: skip


async def test_notify_signs_and_sends_a_build_and_exits_zero_when_accepted(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    done = notify(cibot.url, "--image", "registry.example.test/shop/web:3.0", "--commit", "abc1234")

    assert done.returncode == 0, done.stderr
    assert "accepted: build " in done.stdout
    build_id = done.stdout.split("accepted: build ")[1].strip()
    await fake_slack.state.wait_for_async(
        lambda s: any(build_id in m.visible_text for m in s.all_messages()), within=30
    )


async def test_notify_exits_one_with_the_reason_when_refused(cibot: CibotProcess) -> None:
    bad_image = notify(cibot.url, "--image", "NOT AN IMAGE")
    bad_secret = notify(cibot.url, "--image", "registry.example.test/a:1", secret="wrong")

    assert bad_image.returncode == 1
    assert "invalid field 'image'" in bad_image.stderr
    assert bad_secret.returncode == 1
    assert "401" in bad_secret.stderr


class _Flaky(http.server.BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        type(self).seen.append(self.headers["webhook-id"])
        status = type(self).answers.pop(0)
        body = b'{"build_id": "b1"}' if status == 202 else b'{"error": "down"}'
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def flaky_server() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_notify_retries_server_errors_with_the_same_webhook_id(flaky_server: str) -> None:
    _Flaky.answers, _Flaky.seen = [503, 502, 202], []

    done = notify(flaky_server, "--image", "registry.example.test/a:1")

    assert done.returncode == 0, done.stderr
    assert len(_Flaky.seen) == 3
    assert len(set(_Flaky.seen)) == 1, "one webhook id, so the server dedupes retries"


def test_notify_exits_three_when_the_server_cannot_be_reached() -> None:
    done = notify(f"http://127.0.0.1:{free_port()}", "--image", "r.example/a:1", "--retries", "1")
    assert done.returncode == 3
    assert "gave up" in done.stderr


def write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "check.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_check_passes_a_sound_config_against_the_real_cluster_and_slack(
    cibot_config: dict[str, Any], tmp_path: Path
) -> None:
    done = run_cli("check", "--config", str(write(tmp_path, cibot_config)))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "auth.test: bot" in done.stdout
    assert "all needed permissions" in done.stdout
    assert "all well" in done.stdout


def test_check_reads_the_user_groups_named_in_roles_and_fails_an_unknown_one(
    cibot_config: dict[str, Any], tmp_path: Path, fake_slack: FakeSlackServer
) -> None:
    fake_slack.state.set_group("S0QAGROUP", ["U0QA1"])
    cibot_config["projects"][0]["qa"] = ["S0QAGROUP", "S0GONE"]

    done = run_cli("check", "--config", str(write(tmp_path, cibot_config)))

    assert done.returncode == 1, done.stdout
    assert "ok    user group S0QAGROUP: 1 member(s)" in done.stdout
    assert "FAIL  user group S0GONE: no_such_subteam" in done.stdout


def test_check_says_that_user_groups_need_a_paid_plan_when_slack_refuses_them(
    cibot_config: dict[str, Any], tmp_path: Path, fake_slack: FakeSlackServer
) -> None:
    fake_slack.state.set_group("S0QAGROUP", ["U0QA1"])
    fake_slack.state.refusals.switch_on("free_plan")
    cibot_config["projects"][0]["qa"] = ["S0QAGROUP"]

    done = run_cli("check", "--config", str(write(tmp_path, cibot_config)))

    assert done.returncode == 1, done.stdout
    assert "FAIL  user group S0QAGROUP: plan_upgrade_required (user groups need a paid" in (
        done.stdout
    )


def test_check_reports_a_slack_token_that_slack_refuses(
    cibot_config: dict[str, Any], tmp_path: Path
) -> None:
    cibot_config["slack"]["bot_token"] = "xoxb-revoked"

    done = run_cli("check", "--config", str(write(tmp_path, cibot_config)))

    assert done.returncode == 1
    assert "auth.test refused: invalid_auth" in done.stdout
    assert "xoxb-revoked" not in done.stdout + done.stderr


def test_check_and_serve_refuse_a_broken_config_naming_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server:\n  port: 80800\n  colour: blue\nprojects: []\n")

    for verb in ("check", "serve"):
        done = run_cli(verb, "--config", str(path))
        assert done.returncode == 2
        assert "bad.yaml:2: server.port" in done.stderr
        assert "bad.yaml:3: server.colour" in done.stderr


def test_serve_refuses_an_unmigrated_database_saying_what_to_run(
    cibot_config: dict[str, Any], tmp_path: Path
) -> None:
    done = run_cli("serve", "--config", str(write(tmp_path, cibot_config)), timeout=60)

    assert done.returncode == 2
    assert "cibot db upgrade" in done.stderr


def test_serve_refuses_a_kubeconfig_it_cannot_use_saying_why(
    cibot_config: dict[str, Any], tmp_path: Path
) -> None:
    cibot_config["kubernetes"]["kubeconfig"] = str(tmp_path / "missing-kubeconfig.yaml")

    done = run_cli("serve", "--config", str(write(tmp_path, cibot_config)), timeout=60)

    assert done.returncode == 2
    assert "cannot use the Kubernetes configuration" in done.stderr


def test_serve_refuses_a_kubeconfig_whose_certificates_cannot_be_loaded_before_serving(
    cibot_config: dict[str, Any], tmp_path: Path
) -> None:
    """The Kubernetes client is made at the first call (kubernetes/client.py); its
    certificates are still loaded at start, so a bad one is an error there, not in a job."""
    garbage = tmp_path / "ca.crt"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
    kubeconfig = yaml.safe_load(Path(cibot_config["kubernetes"]["kubeconfig"]).read_text())
    for cluster in kubeconfig["clusters"]:
        cluster["cluster"]["certificate-authority"] = str(garbage)
    path = tmp_path / "bad-ca-kubeconfig.yaml"
    path.write_text(yaml.safe_dump(kubeconfig))
    cibot_config["kubernetes"]["kubeconfig"] = str(path)

    done = run_cli("serve", "--config", str(write(tmp_path, cibot_config)), timeout=60)

    assert done.returncode == 2
    assert "cannot use the Kubernetes configuration" in done.stderr


async def test_audit_prints_what_happened_as_a_table_or_json_filtered_by_project_and_time(
    cibot: CibotProcess, fake_slack: FakeSlackServer
) -> None:
    done = notify(cibot.url, "--image", "registry.example.test/shop/web:4.0")
    assert done.returncode == 0, done.stderr
    config = str(cibot.path)

    table = run_cli("audit", "--config", config, "--project", "shop", "--since", "1h")
    as_json = run_cli("audit", "--config", config, "--json", "--since", "2026-01-01")
    other = run_cli("audit", "--config", config, "--project", "blog", "--json")
    bad = run_cli("audit", "--config", config, "--since", "last tuesday")

    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == [
        "AT", "(UTC)", "ACTION", "PROJECT", "BUILD", "ACTOR", "DETAIL",
    ]  # fmt: skip
    assert "build.accepted" in table.stdout
    rows = yaml.safe_load(as_json.stdout)
    assert rows[-1]["action"] == "build.accepted", "newest first: the first event is last"
    assert rows[-1]["project"] == "shop" and rows[-1]["build"]
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    assert yaml.safe_load(other.stdout) == []
    assert bad.returncode == 2 and "--since takes a date or time" in bad.stderr


CONFIG_TOKEN = "xoxe.xoxp-1-fake-config"  # an app configuration token the fake Slack accepts


def with_app_config_token(config: dict[str, Any], token: str = CONFIG_TOKEN) -> dict[str, Any]:
    config.setdefault("server", {})["public_url"] = "https://cibot.example.com"
    config["slack"].update(app_id="A00000CIBOT", app_config_token=token)
    return config


def test_check_reads_the_apps_manifest_and_fails_a_messages_tab_off_or_clicks_sent_elsewhere(
    cibot_config: dict[str, Any], tmp_path: Path, fake_slack: FakeSlackServer
) -> None:
    path = write(tmp_path, with_app_config_token(cibot_config))
    fake_slack.state.set_app_settings(request_url="https://cibot.example.com/slack/events")
    sound = run_cli("check", "--config", str(path))
    fake_slack.state.refusals.switch_on("messages_tab_disabled")
    fake_slack.state.set_app_settings(
        socket_mode_enabled=True, request_url="https://old.example.com/slack/events"
    )
    broken = run_cli("check", "--config", str(path))

    assert sound.returncode == 0, sound.stdout + sound.stderr
    assert "ok    App Home: the Messages tab is on" in sound.stdout
    assert "ok    interactivity: https://cibot.example.com/slack/events" in sound.stdout
    assert broken.returncode == 1, broken.stdout
    assert "FAIL  App Home: the Messages tab is off" in broken.stdout
    assert "messages_tab_disabled" in broken.stdout, "it says what Slack would answer"
    assert "FAIL  Socket Mode is on" in broken.stdout
    assert "FAIL  interactivity: clicks go to https://old.example.com/slack/events" in broken.stdout
    assert CONFIG_TOKEN not in broken.stdout + broken.stderr


def test_check_warns_that_the_messages_tab_is_unverified_without_an_app_config_token(
    cibot_config: dict[str, Any], tmp_path: Path, fake_slack: FakeSlackServer
) -> None:
    fake_slack.state.refusals.switch_on("messages_tab_disabled")  # unseen with a bot token

    done = run_cli("check", "--config", str(write(tmp_path, cibot_config)))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARN  App Home: the Messages tab could not be verified" in done.stdout
    assert "slack.app_config_token" in done.stdout, "it says how to have it verified"
    assert "all well, 1 warning" in done.stdout


REFUSED_EXPORTS = {
    "xoxb-fake": ("not_allowed_token_type", "an app configuration token"),
    "xoxe.xoxp-1-expired": ("token_expired", "12 hours"),
    "xoxe.xoxp-1-unknown": ("invalid_auth", "not a valid app configuration token"),
}


def test_check_says_why_slack_refused_to_export_the_manifest(
    cibot_config: dict[str, Any], tmp_path: Path, fake_slack: FakeSlackServer
) -> None:
    fake_slack.state.expire_token("xoxe.xoxp-1-expired")  # a configuration token's 12 h are over

    for token, (error, hint) in REFUSED_EXPORTS.items():
        path = write(tmp_path, with_app_config_token(cibot_config, token))
        done = run_cli("check", "--config", str(path))

        assert done.returncode == 1, done.stdout
        assert f"FAIL  apps.manifest.export refused: {error}" in done.stdout
        assert hint in done.stdout
        assert token not in done.stdout + done.stderr
