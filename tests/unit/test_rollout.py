"""Rollout verdicts as kubectl gives them, and the reason a stuck rollout is stuck."""

from __future__ import annotations

from typing import Any

from cibot.adapters.kubernetes.rollout import (
    RolloutState,
    build_digest,
    newest_warning,
    pod_failure_reason,
    rollout_status,
)


def deployment(
    *,
    generation: int = 2,
    observed: int = 2,
    replicas: int | None = 2,
    current: int = 2,
    updated: int = 2,
    available: int = 2,
    progressing_reason: str = "NewReplicaSetAvailable",
) -> dict[str, Any]:
    spec: dict[str, Any] = {} if replicas is None else {"replicas": replicas}
    return {
        "metadata": {"name": "shop", "generation": generation},
        "spec": spec,
        "status": {
            "observedGeneration": observed,
            "replicas": current,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": progressing_reason},
            ],
        },
    }


def pod(
    *,
    waiting: dict[str, Any] | None = None,
    terminated: dict[str, Any] | None = None,
    last_terminated: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    phase: str = "Pending",
    deleting: bool = False,
    **status: Any,
) -> dict[str, Any]:
    state: dict[str, Any] = {}
    if waiting is not None:
        state["waiting"] = waiting
    if terminated is not None:
        state["terminated"] = terminated
    container: dict[str, Any] = {"name": "app", "state": state or {"running": {}}}
    if last_terminated is not None:
        container["lastState"] = {"terminated": last_terminated}
    metadata: dict[str, Any] = {"name": "shop-abc"}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": metadata,
        "status": {
            "phase": phase,
            "conditions": conditions or [],
            "containerStatuses": [] if conditions else [container],
            **status,
        },
    }


def warning(reason: str, message: str, at: str) -> dict[str, Any]:
    return {"type": "Warning", "reason": reason, "message": message, "lastTimestamp": at}


# rollout_status


def test_a_rollout_waits_until_the_controller_has_seen_the_new_spec() -> None:
    status = rollout_status(deployment(generation=3, observed=2))
    assert status.state is RolloutState.WAITING
    assert status.message == "Waiting for deployment spec update to be observed..."
    assert not status.finished


def test_a_new_deployment_without_status_is_waiting() -> None:
    status = rollout_status({"metadata": {"name": "shop", "generation": 1}, "spec": {}})
    assert status.state is RolloutState.WAITING


def test_a_rollout_past_its_progress_deadline_has_failed() -> None:
    status = rollout_status(
        deployment(updated=1, available=0, progressing_reason="ProgressDeadlineExceeded")
    )
    assert status.state is RolloutState.FAILED
    assert status.message == 'deployment "shop" exceeded its progress deadline'
    assert status.reason == "ProgressDeadlineExceeded"
    assert status.finished


def test_the_deadline_is_not_judged_before_the_new_spec_is_observed() -> None:
    status = rollout_status(
        deployment(generation=3, observed=2, progressing_reason="ProgressDeadlineExceeded")
    )
    assert status.state is RolloutState.WAITING


def test_a_rollout_waits_while_replicas_are_not_yet_updated() -> None:
    status = rollout_status(deployment(current=3, updated=1, available=2))
    assert status.state is RolloutState.WAITING
    assert status.message == (
        'Waiting for deployment "shop" rollout to finish: '
        "1 out of 2 new replicas have been updated..."
    )


def test_a_rollout_waits_while_old_replicas_terminate() -> None:
    status = rollout_status(deployment(current=3, updated=2, available=2))
    assert status.message == (
        'Waiting for deployment "shop" rollout to finish: 1 old replicas are pending termination...'
    )


def test_a_rollout_waits_while_updated_replicas_are_not_available() -> None:
    status = rollout_status(deployment(updated=2, available=1))
    assert status.state is RolloutState.WAITING
    assert status.message == (
        'Waiting for deployment "shop" rollout to finish: 1 of 2 updated replicas are available...'
    )


def test_a_rollout_with_all_replicas_updated_and_available_is_done() -> None:
    status = rollout_status(deployment())
    assert status.state is RolloutState.DONE
    assert status.message == 'deployment "shop" successfully rolled out'
    assert status.reason is None


def test_a_deployment_without_replicas_in_its_spec_skips_that_check_like_kubectl() -> None:
    assert rollout_status(deployment(replicas=None, current=0, updated=0, available=0)).state is (
        RolloutState.DONE
    )


def test_a_deployment_scaled_to_zero_is_done() -> None:
    status = rollout_status(deployment(replicas=0, current=0, updated=0, available=0))
    assert status.state is RolloutState.DONE


# pod_failure_reason


def test_healthy_pods_and_no_warnings_mean_nothing_is_wrong() -> None:
    assert pod_failure_reason([pod(phase="Running")], []) is None


def test_a_container_still_being_created_is_not_a_failure() -> None:
    assert pod_failure_reason([pod(waiting={"reason": "ContainerCreating"})], []) is None


def test_an_image_that_cannot_be_pulled_is_named() -> None:
    stuck = pod(waiting={"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x"'})
    assert pod_failure_reason([stuck], []) == 'ImagePullBackOff: Back-off pulling image "x"'


def test_a_bad_container_config_is_named_with_its_message() -> None:
    stuck = pod(
        waiting={
            "reason": "CreateContainerConfigError",
            "message": "container has runAsNonRoot and image will run as root",
        }
    )
    assert pod_failure_reason([stuck], []) == (
        "CreateContainerConfigError: container has runAsNonRoot and image will run as root"
    )


def test_a_crash_loop_says_how_the_container_last_exited() -> None:
    crashing = pod(
        waiting={"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed"},
        last_terminated={"exitCode": 1, "reason": "Error", "message": "no DATABASE_URL\n"},
    )
    assert pod_failure_reason([crashing], []) == (
        'CrashLoopBackOff: container "app" exited with code 1 (Error): no DATABASE_URL'
    )


def test_a_crash_loop_without_a_last_state_gives_the_waiting_message() -> None:
    crashing = pod(waiting={"reason": "CrashLoopBackOff", "message": "back-off 10s"})
    assert pod_failure_reason([crashing], []) == "CrashLoopBackOff: back-off 10s"


def test_a_container_that_exited_with_an_error_is_named() -> None:
    dead = pod(terminated={"exitCode": 137, "reason": "OOMKilled"}, phase="Running")
    assert pod_failure_reason([dead], []) == 'container "app" exited with code 137 (OOMKilled)'


def test_a_container_that_exited_cleanly_is_not_a_failure() -> None:
    assert pod_failure_reason([pod(terminated={"exitCode": 0, "reason": "Completed"})], []) is None


def test_an_unschedulable_pod_gives_the_scheduler_message() -> None:
    pending = pod(
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient memory.",
            }
        ]
    )
    assert pod_failure_reason([pending], []) == (
        "Unschedulable: 0/3 nodes are available: 3 Insufficient memory."
    )


def test_an_evicted_pod_gives_its_reason() -> None:
    evicted = pod(phase="Failed", reason="Evicted", message="The node was low on memory.")
    evicted["status"]["containerStatuses"] = []
    assert pod_failure_reason([evicted], []) == "Evicted: The node was low on memory."


def test_a_failing_init_container_is_named() -> None:
    init = pod(phase="Pending")
    init["status"]["initContainerStatuses"] = [
        {"name": "migrate", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}
    ]
    init["status"]["containerStatuses"] = [
        {"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}
    ]
    assert pod_failure_reason([init], []) == 'container "migrate" exited with code 2 (Error)'


def test_a_pod_being_deleted_is_not_telling() -> None:
    old = pod(waiting={"reason": "ImagePullBackOff", "message": "old"}, deleting=True)
    assert pod_failure_reason([old], []) is None


def test_a_stuck_container_outranks_an_unschedulable_pod_and_warnings() -> None:
    pending = pod(conditions=[{"type": "PodScheduled", "status": "False", "message": "no nodes"}])
    stuck = pod(waiting={"reason": "ErrImagePull", "message": "not found"})
    events = [warning("FailedScheduling", "no nodes", "2026-01-01T00:00:09Z")]
    assert pod_failure_reason([pending, stuck], events) == "ErrImagePull: not found"


def test_without_pod_trouble_the_newest_warning_event_is_the_reason() -> None:
    events = [
        warning("FailedCreate", "exceeded quota: team-quota", "2026-01-01T00:00:05Z"),
        {"type": "Normal", "reason": "ScalingReplicaSet", "lastTimestamp": "2026-01-01T00:00:09Z"},
        warning("Unhealthy", "Readiness probe failed: 503", "2026-01-01T00:00:07Z"),
    ]
    assert pod_failure_reason([pod(phase="Running")], events) == (
        "Unhealthy: Readiness probe failed: 503"
    )


def test_with_no_pods_at_all_a_replicaset_warning_explains_why() -> None:
    events = [warning("FailedCreate", 'pods "shop-abc" is forbidden: exceeded quota', "")]
    assert pod_failure_reason([], events) == (
        'FailedCreate: pods "shop-abc" is forbidden: exceeded quota'
    )


def test_events_of_the_new_api_shape_are_read_too() -> None:
    events = [
        {
            "type": "Warning",
            "reason": "FailedMount",
            "note": 'secret "db" not found',
            "eventTime": "2026-01-01T00:00:01.500000Z",
        },
        warning("BackOff", "older", "2026-01-01T00:00:01Z"),
    ]
    assert newest_warning(events) == 'FailedMount: secret "db" not found'


def test_normal_events_alone_are_no_reason() -> None:
    assert newest_warning([{"type": "Normal", "reason": "Pulled", "message": "ok"}]) is None


# build_digest: the digest a build's own pods run

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def running(
    build: str, digest: str, *, ready: bool = True, deleting: bool = False
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": f"shop-{build}", "labels": {"cibot/build": build}}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:30Z"
    ready_word = "True" if ready else "False"
    return {
        "metadata": metadata,
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": ready_word}],
            "containerStatuses": [
                {
                    "name": "app",
                    "image": "registry.example.com/shop:main",
                    "imageID": f"registry.example.com/shop@{digest}",
                    "ready": ready,
                }
            ],
        },
    }


def test_the_digest_comes_from_the_builds_own_ready_pods() -> None:
    pods = [running("b1", D1), running("b2", D2)]
    assert build_digest(pods, "b2").digest == D2
    assert build_digest(pods, "b1").digest == D1


def test_a_terminating_pod_of_the_build_still_ready_is_not_asked() -> None:
    pods = [running("b2", D1, deleting=True), running("b2", D2)]
    assert build_digest(pods, "b2").digest == D2


def test_pods_of_another_build_or_not_ready_give_no_digest_yet() -> None:
    check = build_digest([running("b1", D1), running("b2", D2, ready=False)], "b2")
    assert (check.digest, check.problem) == (None, None)


def test_a_build_whose_pods_run_two_digests_has_none() -> None:
    check = build_digest([running("b2", D1), running("b2", D2)], "b2")
    assert check.digest is None
    assert check.problem is not None and D1 in check.problem and D2 in check.problem


def test_pods_must_report_the_digest_the_image_was_pinned_to() -> None:
    assert build_digest([running("b2", D2)], "b2", pinned=D2).digest == D2
    check = build_digest([running("b2", D1)], "b2", pinned=D2)
    assert check.digest is None
    assert check.problem is not None and D1 in check.problem and D2 in check.problem


def test_an_image_id_without_a_registry_digest_is_no_digest() -> None:
    local = running("b2", D2)
    local["status"]["containerStatuses"][0]["imageID"] = "sha256:" + "3" * 64
    assert build_digest([local], "b2").digest is None
