"""The playground in a real browser: people click through ci-bot's whole flow in the fake Slack.

Headless Chromium (Debian's, found by scripts/localbrowser) driven by Playwright, against the
real `cibot serve`, the fake Slack (whose page sends signed requests to it) and the local
Kubernetes control plane. Screenshots are written beside the test's temporary files; the path
is printed.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.resources.core_v1 import Namespace
from playwright.sync_api import Browser, Page, expect, sync_playwright

from cibot.fakeslack import Bot, Channel, FakeSlackServer, User
from tests.support.service import CibotProcess, free_port
from tests.support.shop import SECRET, service_config

pytestmark = pytest.mark.kubernetes

ROOT = Path(__file__).resolve().parents[2]
CHANNEL, ODDITIES = "C0E2E0CHAN", "C0ODDITIES"
QA1, QA2, OWNER, STRANGER = "U0QA1", "U0QA2", "U0OWNER1", "U0STRANGER"
NAMES = {
    QA1: "Quinn (QA)",
    QA2: "Robin (QA)",
    OWNER: "Olive (owner)",
    STRANGER: "Sam (in no project)",
}
WAIT = 30_000  # ms: a preview or production rollout on the local control plane


def chromium() -> str:
    """Debian's Chromium: $CIBOT_CHROMIUM (set by scripts/test), else scripts/localbrowser."""
    if path := os.environ.get("CIBOT_CHROMIUM"):
        return path
    found = subprocess.run(
        [str(ROOT / "scripts" / "localbrowser")], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        pytest.fail(f"no Chromium for the browser tests: {found.stderr.strip()}")
    return found.stdout.strip()


@pytest.fixture(scope="module")
def namespace(kubeconfig_path: Path) -> Iterator[str]:
    kube = Client(config=KubeConfig.from_file(kubeconfig_path))
    name = f"e2e-play-{uuid.uuid4().hex[:8]}"
    kube.create(from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
    yield name
    kube.delete(Namespace, name)


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlackServer]:
    users = [User(id=u, name=u.lower(), real_name=n) for u, n in NAMES.items()]
    channels = [
        Channel(id=CHANNEL, name="shop-builds", members=frozenset(NAMES)),
        Channel(id=ODDITIES, name="oddities", members=frozenset(NAMES)),
    ]
    with FakeSlackServer(users=users, channels=channels) as server:
        yield server


@pytest.fixture(scope="module")
def cibot(
    slack: FakeSlackServer,
    kubeconfig_path: Path,
    namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CibotProcess]:
    workdir = tmp_path_factory.mktemp("cibot")
    database = f"sqlite+aiosqlite:///{workdir / 'cibot.db'}"
    config: dict[str, Any] = service_config(database, kubeconfig_path, slack.api_url, namespace)
    config["projects"][0].update(
        qa=[QA1, QA2],
        owners=[OWNER],
        policy={"approvals_required": 1, "allow_override": True},
    )
    process = CibotProcess(config, workdir)
    process.upgrade_db()
    process.start()
    slack.connect(Bot(process.url, "e2e-signing-secret", SECRET, ("shop",)))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("CIBOT_ARTIFACTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nplayground screenshots: {folder}")
    return folder


class Person:
    """One person at the playground: who they act as, and where they look."""

    def __init__(self, page: Page, slack: FakeSlackServer) -> None:
        self.page, self.slack = page, slack

    def be(self, user: str) -> Person:
        self.page.goto(f"{self.slack.url}/?as={user}")
        expect(self.page.locator("#as")).to_have_value(user)
        return self

    def open(self, where: str) -> Person:
        """`channel`, `dm` or `home`."""
        links = {"channel": f"[data-conv='{CHANNEL}']", "dm": "#dm-item a", "home": "#open-home"}
        self.page.locator(links[where]).click()
        return self

    def message(self, text: str) -> Any:
        return self.page.locator("#messages .message").filter(has_text=text).last

    def press(self, name: str, *, confirm: bool = False) -> None:
        self.page.get_by_role("button", name=name, exact=True).click()
        if confirm:
            self.page.locator("#confirm-ok").click()

    def send_build(self, image: str) -> None:
        form = self.page.locator("#build-form")
        form.locator("input[name=image]").fill(image)
        form.locator("input[name=target]").fill("feature/login")
        form.get_by_role("button", name="Send build").click()
        expect(self.page.locator("#status")).to_contain_text("answered 202", timeout=10_000)


def test_people_click_through_review_deploy_and_rollback(
    page: Page, slack: FakeSlackServer, cibot: CibotProcess, shots: Path
) -> None:
    me = Person(page, slack)
    home = page.locator("#home")
    # A build arrives, sent from the playground's CI form; its card says when it is ready.
    me.be(OWNER).send_build("registry.example.com/shop/web:1.0")
    me.open("channel")
    expect(me.message("Preview of")).to_contain_text("is ready", timeout=WAIT)
    # Quinn's Home tab shows the review waiting for them; they approve in their DM.
    me.be(QA1).open("home")
    expect(home).to_contain_text("Waiting for you (1)", timeout=10_000)
    me.open("dm").press("Approve")
    expect(me.message("Please review")).to_contain_text("Approved", timeout=10_000)
    # The owner deploys (a confirm dialog first); the channel hears of it.
    me.be(OWNER).open("dm")
    expect(page.get_by_role("button", name="Deploy to production")).to_be_visible(timeout=10_000)
    me.press("Deploy to production", confirm=True)
    me.open("channel")
    expect(me.message("deployed to production by")).to_contain_text("Olive (owner)", timeout=WAIT)
    me.open("home")
    expect(home).to_contain_text("Production runs release #1", timeout=10_000)

    # A second build: Quinn approves, Robin rejects with a reason typed in the modal.
    me.send_build("registry.example.com/shop/web:2.0")
    me.open("channel")
    expect(me.message("web:2.0")).to_contain_text("is ready", timeout=WAIT)
    me.be(QA1).open("dm")
    me.message("web:2.0").get_by_role("button", name="Approve").click()
    expect(me.message("web:2.0")).to_contain_text("Approved", timeout=10_000)
    me.be(QA2).open("dm")
    me.message("web:2.0").get_by_role("button", name="Reject").click()
    modal = page.locator("#modal-form")
    expect(modal).to_contain_text("Reject build", timeout=5_000)
    modal.locator("textarea").fill("the <b>login</b> button is gone & *nobody* noticed")
    page.screenshot(path=shots / "reject-modal.png")
    modal.locator("#modal-submit").click()
    expect(modal).to_be_hidden(timeout=10_000)
    expect(me.message("web:2.0")).to_contain_text(
        "Rejected (the <b>login</b> button is gone & *nobody* noticed)", timeout=10_000
    )
    # The owner reads the verdicts in the thread and deploys anyway, giving a reason.
    me.be(OWNER).open("dm")
    expect(me.message("web:2.0")).to_contain_text("rejected", timeout=10_000)
    me.press("Deploy without approval…")
    expect(modal).to_contain_text("Deploy without QA", timeout=5_000)
    modal.locator("#modal-submit").click()  # empty: refused in the form, as Slack shows it
    expect(modal).to_contain_text("Say why this cannot wait for QA", timeout=10_000)
    modal.locator("textarea").fill("a customer demo in ten minutes")
    modal.locator("#modal-submit").click()
    expect(modal).to_be_hidden(timeout=10_000)
    me.open("channel")
    expect(me.message("without the required approvals")).to_contain_text(
        "a customer demo", timeout=WAIT
    )
    # Someone outside the project presses Roll back: refused, and only they are told.
    me.be(STRANGER).open("channel")
    me.press("Roll back", confirm=True)
    expect(page.locator(".ephemeral").last).to_contain_text("Only visible to you", timeout=10_000)
    refusal = page.locator(".ephemeral").last.inner_text()
    page.screenshot(path=shots / "stranger-refused.png")
    me.be(OWNER).open("channel")
    expect(me.message("without the required approvals")).to_be_visible()
    expect(page.locator(".ephemeral")).to_have_count(0)
    # The owner rolls back to the first release; their Home tab shows what runs now.
    me.press("Roll back", confirm=True)
    expect(me.message("rolled")).to_contain_text("production back", timeout=WAIT)
    page.screenshot(path=shots / "playground.png")
    me.open("home")
    expect(home).to_contain_text("rolled back to it", timeout=10_000)
    page.screenshot(path=shots / "home.png")
    # A slash command typed in the channel: its answer is for the one who typed it.
    me.open("channel")
    page.locator("#composer-input").fill("/cibot history shop")
    page.locator("#composer-input").press("Enter")
    expect(page.locator(".ephemeral").last).to_contain_text("The latest of Shop", timeout=10_000)
    assert "Not allowed" in refusal, refusal


def test_what_ci_sent_is_shown_as_text_never_as_markup(page: Page, slack: FakeSlackServer) -> None:
    hostile = "<img src=x onerror=window.pwned=1><script>window.pwned=2</script>"
    slack.state.post_message(
        ODDITIES,
        text="fallback",
        blocks=(
            {"type": "header", "text": {"type": "plain_text", "text": hostile}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    # as ci-bot sends user text: Slack's escapes for <, > and &
                    "text": "*bold* `code` &lt;script&gt;window.pwned=3&lt;/script&gt; "
                    f"<javascript:window.pwned=4|a link> <https://example.com|safe> <@{QA1}>",
                },
            },
            {"type": "context", "elements": [{"type": "plain_text", "text": '" onclick="x'}]},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "<i>press</i>"},
                        "action_id": '"><img src=x onerror=window.pwned=5>',
                        "value": "v",
                    }
                ],
            },
        ),
    )
    Person(page, slack).be(QA2)
    page.locator(f"[data-conv='{ODDITIES}']").click()
    shown = page.locator("#messages .message").last
    expect(shown).to_contain_text(hostile)
    expect(shown).to_contain_text("<script>window.pwned=3</script>")
    expect(shown.locator("b")).to_have_text("bold")
    expect(shown.locator("code")).to_have_text("code")
    expect(shown.locator(".mention")).to_have_text(f"@{NAMES[QA1]}")
    expect(shown.locator("a")).to_have_count(1)
    expect(shown.locator("a")).to_have_attribute("href", "https://example.com")
    expect(shown).to_contain_text("a link")
    expect(shown.get_by_role("button")).to_have_text("<i>press</i>")
    assert shown.locator("img, script, [onclick]").count() == 0
    assert page.evaluate("window.pwned") is None


def test_serve_without_slack_runs_a_playground_that_reaches_it(
    kubeconfig_path: Path, namespace: str, tmp_path: Path
) -> None:
    """What `scripts/run` starts: the fake Slack beside `cibot serve` knows its URL and
    secrets, so the page's build form and Home tab visits are accepted."""
    config = service_config(f"sqlite:///{tmp_path / 'cibot.db'}", kubeconfig_path, "", namespace)
    del config["slack"]
    config["projects"][0].update(qa=[QA1], owners=[OWNER])
    process = CibotProcess(config, tmp_path)
    process.upgrade_db()
    fake_port = free_port()
    process.start(env={"CIBOT_FAKE_SLACK_PORT": str(fake_port)})
    try:
        fake = f"http://127.0.0.1:{fake_port}"
        people = httpx.get(f"{fake}/_play/people", timeout=5).json()
        assert people["bot"] == {"url": process.url, "projects": ["shop"], "ci": True}
        assert {p["id"] for p in people["people"]} == {QA1, OWNER, STRANGER}
        build = {"project": "shop", "image": "r.example/web:1", "type": "tag", "target": "v1"}
        sent = httpx.post(f"{fake}/_play/build", json=build, timeout=10).json()
        assert sent["status"] == 202, sent
        opened = httpx.post(f"{fake}/_play/home", json={"user": QA1}, timeout=10).json()
        assert opened["status"] == 200, opened
    finally:
        process.stop()
