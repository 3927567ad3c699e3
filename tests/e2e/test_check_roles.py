"""`cibot check` warns about one person in both roles of a project (four eyes on a release).

Run as a user runs it, against the fake Slack (which knows the user groups); Kubernetes is
not reachable here, so that section fails, and is the only failure counted.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from cibot.fakeslack import FakeSlackServer, User
from tests.support import door
from tests.support.service import run_cli


def test_check_warns_when_one_person_is_both_qa_and_owner_without_failing(
    tmp_path: Path,
) -> None:
    people = [User(id=u, name=u.lower()) for u in ("U0ANN", "U0BOB", "U0CAT")]
    with FakeSlackServer(users=people) as slack:
        slack.state.set_group("S0QA", ["U0BOB", "U0CAT"])
        config = door.door_config(
            tmp_path,
            slack.api_url,
            door.project("shop", qa=["U0ANN", "S0QA"], owners=["U0ANN", "U0BOB"]),
            door.project("apart", qa=["U0CAT"], owners=["U0BOB"]),
            door.project(
                "strict", qa=["U0ANN"], owners=["U0ANN"], policy={"approver_may_deploy": False}
            ),
            webhooks={"secret": "check-secret"},
        )
        path = tmp_path / "check.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))

        done = run_cli("check", "--config", str(path))

    warnings = [line for line in done.stdout.splitlines() if " is both " in line]
    assert all(line.startswith("  WARN") for line in warnings), done.stdout
    assert [w.split(" is both")[0].split()[-1] for w in warnings] == ["U0ANN", "U0BOB"]
    assert all("of shop:" in w and "approver_may_deploy: false" in w for w in warnings)
    assert "1 problem(s)" in done.stdout, done.stdout  # Kubernetes unreachable; no warning counts
