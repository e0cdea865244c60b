"""template.yaml, issue 11: the SES configuration set (account-level suppression of bounces and
complaints, reputation metrics), its event destination (an SNS topic only this account's SES
may publish to, for this configuration set), the function that consumes it, every function
sending through it, and the reputation alarms into the stack's alarm topic."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.aws import load_template, resolve

TOPIC = {"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    res: dict[str, Any] = load_template()["Resources"]
    return res


def props(resources: dict[str, Any], name: str) -> dict[str, Any]:
    p: dict[str, Any] = resources[name]["Properties"]
    return p


def test_configuration_set_suppresses_bounces_and_complaints(resources: dict[str, Any]) -> None:
    assert resources["SesConfigurationSet"]["Type"] == "AWS::SES::ConfigurationSet"
    p = props(resources, "SesConfigurationSet")
    assert p["SuppressionOptions"] == {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]}
    assert p["ReputationOptions"] == {"ReputationMetricsEnabled": True}
    assert resolve(p["Name"], stack="site-a") == "site-a-mail"


def test_events_go_to_the_topic_the_function_subscribes_to(resources: dict[str, Any]) -> None:
    assert resources["SesEventDestination"]["Type"] == "AWS::SES::ConfigurationSetEventDestination"
    p = props(resources, "SesEventDestination")
    assert p["ConfigurationSetName"] == {"Ref": "SesConfigurationSet"}
    destination = p["EventDestination"]
    assert destination["Enabled"] is True
    assert sorted(destination["MatchingEventTypes"]) == [
        "bounce",
        "complaint",
        "delivery",
        "reject",
    ]
    assert destination["SnsDestination"] == {"TopicARN": {"Ref": "SesEventsTopic"}}
    # SES can publish only once the topic's policy lets it
    assert "SesEventsTopicPolicy" in resources["SesEventDestination"]["DependsOn"]
    function = props(resources, "SesEventsHandler")
    assert function["Handler"] == "regflow.handlers.ses_events.lambda_handler"
    assert function["Events"]["Feedback"] == {
        "Type": "SNS",
        "Properties": {"Topic": {"Ref": "SesEventsTopic"}},
    }
    assert function["DeadLetterQueue"]["TargetArn"] == {
        "Fn::GetAtt": ["SesEventsDeadLetterQueue", "Arn"]
    }


def test_only_this_configuration_sets_ses_may_publish(resources: dict[str, Any]) -> None:
    statements = props(resources, "SesEventsTopicPolicy")["PolicyDocument"]["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allow) == 1
    (statement,) = allow
    assert statement["Principal"] == {"Service": "ses.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    condition = statement["Condition"]["StringEquals"]
    assert condition["AWS:SourceAccount"] == {"Ref": "AWS::AccountId"}
    # (the configuration set's Ref is its name: site-a-mail, above)
    assert resolve(condition["AWS:SourceArn"], stack="site-a") == (
        "arn:aws:ses:us-east-1:123456789012:configuration-set/${SesConfigurationSet}"
    )


def test_every_function_sends_through_the_configuration_set(resources: dict[str, Any]) -> None:
    template = load_template()
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["SES_CONFIGURATION_SET"] == {"Ref": "SesConfigurationSet"}
    assert env["MX_CHECK"] == "on"
    for role in ("MailSenderRole", "ParkedMessageRecoveryRole"):
        statements = props(resources, role)["Policies"][0]["PolicyDocument"]["Statement"]
        (grant,) = [s for s in statements if s["Sid"] == "SendThroughConfigurationSet"]
        assert resolve(grant["Resource"], stack="site-a") == (
            "arn:aws:ses:us-east-1:123456789012:configuration-set/${SesConfigurationSet}"
        )


@pytest.mark.parametrize(
    ("alarm", "metric", "threshold"),
    [
        ("SesBounceRateAlarm", ("AWS/SES", "Reputation.BounceRate"), 0.025),
        ("SesComplaintRateAlarm", ("AWS/SES", "Reputation.ComplaintRate"), 0.0005),
        ("MailBounceRateAlarm", ("regflow", "MailBounced"), 0.025),
        ("MailComplaintRateAlarm", ("regflow", "MailComplained"), 0.0005),
        ("OwnerAddressBouncedAlarm", ("regflow", "OwnerAddressBounced"), 0),
    ],
)
def test_reputation_alarms_notify_the_alarm_topic(
    resources: dict[str, Any], alarm: str, metric: tuple[str, str], threshold: float
) -> None:
    p = props(resources, alarm)
    if "MetricName" in p:
        read = {(p["Namespace"], p["MetricName"])}
    else:
        read = {
            (q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"])
            for q in p["Metrics"]
            if "MetricStat" in q
        }
    assert metric in read
    assert p["Threshold"] == threshold
    assert p["ComparisonOperator"] in ("GreaterThanOrEqualToThreshold", "GreaterThanThreshold")
    assert p["AlarmActions"] == [TOPIC]
    assert p["TreatMissingData"] == "notBreaching"
