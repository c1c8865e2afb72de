"""template.yaml's change feed and operations resources: the consumer's read grant, the event
queue, the alarms and the dashboard, checked against the code that feeds them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rostersync.pipeline import feed, health
from rostersync_tools.local.template import load_template

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def _alarm(name: str) -> dict[str, Any]:
    alarm = RESOURCES[name]
    assert alarm["Type"] == "AWS::CloudWatch::Alarm"
    props: dict[str, Any] = alarm["Properties"]
    return props


def test_the_consumer_may_only_read_the_snapshot_bucket_and_only_when_named() -> None:
    statements = RESOURCES["SnapshotBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    granted = [s["Fn::If"] for s in statements if "Fn::If" in s]

    assert [g[0] for g in granted] == ["HasConsumerPrincipal", "HasConsumerPrincipal"]
    assert all(g[2] == {"Ref": "AWS::NoValue"} for g in granted)
    actions = {
        a for g in granted for a in ([g[1]["Action"]] if isinstance(g[1]["Action"], str) else g[1]["Action"])
    }
    assert actions == {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"}
    assert all(g[1]["Principal"] == {"AWS": {"Ref": "ConsumerPrincipalArn"}} for g in granted)


def test_the_event_queue_subscribes_to_every_event_with_a_schema() -> None:
    rule = RESOURCES["RosterEventQueueRule"]
    pattern = rule["Properties"]["EventPattern"]
    schemas = sorted(p.stem for p in (ROOT / "events" / "schemas").glob("*.json"))

    assert rule["Condition"] == "CreateEventQueue" == RESOURCES["RosterEventQueue"]["Condition"]
    assert pattern["source"] == ["rostersync"]
    assert sorted(pattern["detail-type"]) == sorted(feed.DETAIL_TYPES) == schemas


def test_the_functions_that_emit_events_may_put_them_on_the_roster_bus() -> None:
    for name in ("DiffFunction", "HoldsFunction"):
        policies = RESOURCES[name]["Properties"]["Policies"]
        assert {"EventBridgePutEventsPolicy": {"EventBusName": {"Ref": "RosterEventBus"}}} in policies, name


def test_health_alarms_watch_the_metrics_the_code_puts_in_its_namespace() -> None:
    namespace = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    watched = {
        "HeldSyncAgeAlarm": (health.OLDEST_HELD, {"Ref": "HoldAgeAlarmDays"}),
        "SyncOverdueAlarm": (health.OVERDUE_DISTRICTS, 0),
    }
    for name, (metric, threshold) in watched.items():
        alarm = _alarm(name)
        assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric), name
        assert alarm["Threshold"] == threshold and alarm["TreatMissingData"] == "ignore", name
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold", name


def test_the_default_cadence_reaches_the_functions_from_the_alarm_parameter() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]

    assert variables["SYNC_CADENCE_HOURS"] == {"Ref": "SyncCadenceAlarmHours"}


def test_failed_executions_and_every_dead_letter_queue_are_alarmed() -> None:
    failed = _alarm("FailedSyncsAlarm")
    stats = [m["MetricStat"]["Metric"] for m in failed["Metrics"] if "MetricStat" in m]
    queues = {
        json.dumps(_alarm(n)["Dimensions"][0]["Value"])
        for n in ("PullScheduleDeadLetterAlarm", "ArrivalDeadLetterAlarm", "EventQueueDeadLetterAlarm")
    }

    assert {(m["Namespace"], m["MetricName"]) for m in stats} == {
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
    }
    assert queues == {
        json.dumps({"Fn::GetAtt": [q, "QueueName"]})
        for q in (
            "PullScheduleDeadLetterQueue",
            "IngestFunctionInboxObjectCreatedQueue",
            "RosterEventDeadLetterQueue",
        )
    }


def test_every_alarm_notifies_the_alarm_topic() -> None:
    alarms = {n: r["Properties"] for n, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}

    assert len(alarms) == 6
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())


def test_the_dashboard_body_is_json_once_substituted() -> None:
    body = RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]

    parsed = json.loads(re.sub(r"\$\{[^}]+\}", "1", body))

    titles = [w["properties"]["title"] for w in parsed["widgets"]]
    assert "Held sync age (days), per district" in titles and "Alarms" in titles
    assert health.HELD_AGE in body and health.SINCE_ACCEPTED in body
    assert f'MetricName=\\"{health.SYNC_OVERDUE}\\"' in body and health.OVERDUE_DISTRICTS in body
