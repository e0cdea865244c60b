"""template.yaml, issue 10: alarms that see real failures and page someone, physical names
derived from the stack's name (several stacks per account and region), the own domain, the
stack's tags and the stream's record age."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from regflow.metrics import METRIC_NAMES, NAMESPACE
from tests.support.aws import load_template, resolve

TOPIC = {"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}
# Keys whose value is a physical name; the keys skipped hold other things called Name.
NAME_KEYS = {
    "FunctionName",
    "LogGroupName",
    "TableName",
    "QueueName",
    "Name",
    "DashboardName",
    "TopicName",
    "ScheduleName",
}
NOT_NAMES = {"Dimensions", "Metrics", "RecordSets", "Tags", "Policies", "Environment"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: v["Properties"]
        for k, v in template["Resources"].items()
        if v["Type"] == "AWS::CloudWatch::Alarm"
    }


def watched(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, metric) pairs an alarm reads, directly or through metric math."""
    if "MetricName" in alarm:
        return {(alarm["Namespace"], alarm["MetricName"])}
    return {
        (q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"])
        for q in alarm["Metrics"]
        if "MetricStat" in q
    }


# One alarm per condition of issue 10, and what it must read.
CONDITIONS = {
    "any 5xx answer": ("Http5xxAlarm", {(NAMESPACE, "Http5xx"), ("AWS/Lambda", "Errors")}),
    "any parked message": ("ParkedMessagesAlarm", {(NAMESPACE, "MessagesParked")}),
    "oldest parked message": (
        "OldestParkedMessageAlarm",
        {(NAMESPACE, "OldestParkedAgeSeconds")},
    ),
    "mail sender errors": (
        "MailSenderErrorsAlarm",
        {("AWS/Lambda", "Errors"), (NAMESPACE, "RecordsFailed")},
    ),
    "mail sender iterator age": ("MailSenderIteratorAgeAlarm", {("AWS/Lambda", "IteratorAge")}),
    "function throttles": ("FunctionThrottlesAlarm", {("AWS/Lambda", "Throttles")}),
    "DynamoDB throttling": (
        "DynamoDBThrottlesAlarm",
        {("AWS/DynamoDB", "ReadThrottleEvents"), ("AWS/DynamoDB", "WriteThrottleEvents")},
    ),
    "API Gateway 5xx": ("ApiGateway5xxAlarm", {("AWS/ApiGateway", "5xx")}),
    "dead-lettered batch": (
        "DeadLetterQueueAlarm",
        {("AWS/SQS", "ApproximateNumberOfMessagesVisible")},
    ),
}


@pytest.mark.parametrize("condition", sorted(CONDITIONS))
def test_an_alarm_watches_each_condition(template: dict[str, Any], condition: str) -> None:
    name, metrics = CONDITIONS[condition]
    alarm = alarms(template)[name]
    assert metrics <= watched(alarm), condition
    assert alarm["AlarmActions"] == [TOPIC]
    assert alarm["OKActions"] == [TOPIC]
    assert alarm["TreatMissingData"] == "notBreaching"


def test_every_alarm_pages_through_the_topic(template: dict[str, Any]) -> None:
    for name, alarm in alarms(template).items():
        assert alarm.get("AlarmActions") == [TOPIC], name


def test_the_throttle_alarm_covers_every_function(template: dict[str, Any]) -> None:
    functions = {
        k for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"
    }
    alarm = alarms(template)["FunctionThrottlesAlarm"]
    refs = {
        d["Value"]["Ref"]
        for q in alarm["Metrics"]
        if "MetricStat" in q
        for d in q["MetricStat"]["Metric"]["Dimensions"]
    }
    assert refs == functions


def test_alarms_and_dashboard_read_only_metrics_the_code_emits(template: dict[str, Any]) -> None:
    ours = {m for alarm in alarms(template).values() for ns, m in watched(alarm) if ns == NAMESPACE}
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    for widget in dashboard["widgets"]:
        for row in widget["properties"]["metrics"]:
            if row[0] == NAMESPACE:
                ours.add(row[1])
    assert ours <= METRIC_NAMES
    assert {"MessagesParked", "Http5xx", "RegistrationAccepted", "ConfirmationConfirmed"} <= ours


def test_the_dashboard_shows_the_flow_end_to_end(template: dict[str, Any]) -> None:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    titles = [w["properties"]["title"] for w in dashboard["widgets"]]
    assert [t.split(".")[0] for t in titles[:4]] == ["1", "2", "3", "4"]


def test_the_stack_has_its_own_topic_and_an_optional_email(template: dict[str, Any]) -> None:
    res = template["Resources"]
    assert res["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    assert res["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    sub = res["AlarmEmailSubscription"]
    assert sub["Condition"] == "HasAlarmEmail"
    assert sub["Properties"]["Protocol"] == "email"
    assert sub["Properties"]["TopicArn"] == TOPIC
    assert resolve({"Condition": "CreateAlarmTopic"}, template=template) is True
    given = {"AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:ops"}
    assert resolve({"Condition": "CreateAlarmTopic"}, params=given, template=template) is False


# --- physical names ---------------------------------------------------------------------------


def physical_names(template: dict[str, Any], stack: str, **params: str) -> dict[str, str]:
    """Every physical name the template sets, resolved for `stack`: {where: name}."""
    out: dict[str, str] = {}

    def visit(where: str, node: Any) -> Iterator[None]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in NOT_NAMES:
                    continue
                if key in NAME_KEYS:
                    name = resolve(value, stack=stack, params=params, template=template)
                    if isinstance(name, str):  # a Ref to a resource is not a name it sets
                        out[f"{where}.{key}"] = name
                        continue
                yield from visit(f"{where}.{key}", value)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from visit(f"{where}[{i}]", value)

    for logical, resource in template["Resources"].items():
        if resource["Type"] in ("AWS::Lambda::Permission",):
            continue
        for _ in visit(logical, resource.get("Properties", {})):
            pass
    return out


def test_no_physical_name_is_hard_coded(template: dict[str, Any]) -> None:
    names = physical_names(template, "site-a")
    assert len(names) >= 10
    for where, name in names.items():
        assert "site-a" in name, f"{where} = {name!r} does not derive from the stack's name"


def test_two_stacks_names_do_not_collide(template: dict[str, Any]) -> None:
    one = physical_names(template, "regflow")
    two = physical_names(template, "staging")
    assert one.keys() == two.keys()
    assert not set(one.values()) & set(two.values())
    assert one["UserRegistrations.TableName"] == "regflow-registrations"
    assert one["MailSender.FunctionName"] == "regflow-mail-sender"
    assert one["MailSenderLogGroup.LogGroupName"] == "/aws/lambda/regflow-mail-sender"


def test_the_table_name_stays_a_parameter(template: dict[str, Any]) -> None:
    names = physical_names(template, "regflow", TableName="UserRegistrations")
    assert names["UserRegistrations.TableName"] == "UserRegistrations"


def test_each_function_logs_to_its_own_derived_group(template: dict[str, Any]) -> None:
    names = physical_names(template, "s")
    for function, group in [
        ("RegistrationHandler", "RegistrationHandlerLogGroup"),
        ("ConfirmationHandler", "ConfirmationHandlerLogGroup"),
        ("MailSender", "MailSenderLogGroup"),
        ("ParkedMessageRecovery", "ParkedMessageRecoveryLogGroup"),
    ]:
        fn = names[f"{function}.FunctionName"]
        assert names[f"{group}.LogGroupName"] == f"/aws/lambda/{fn}"
    # Lambda's 64-character limit holds for the longest stack name deploy.sh accepts (40)
    longest = physical_names(template, "s" * 40)
    assert all(len(v) <= 64 for k, v in longest.items() if k.endswith(".FunctionName"))


def test_functions_carry_the_stacks_tags(template: dict[str, Any]) -> None:
    function = template["Globals"]["Function"]
    assert function["PropagateTags"] is True
    assert function["Tags"] == {"regflow:stack": {"Ref": "AWS::StackName"}}


# --- the own domain ---------------------------------------------------------------------------


def distribution(template: dict[str, Any], **params: str) -> dict[str, Any]:
    config = template["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    resolved: dict[str, Any] = resolve(config, params=params, template=template)
    return resolved


def test_without_a_domain_cloudfront_keeps_its_own_address(template: dict[str, Any]) -> None:
    config = distribution(template)
    assert config["Aliases"] == {"Ref": "AWS::NoValue"}
    assert config["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}
    assert config["WebACLId"] == {"Ref": "AWS::NoValue"}


def test_own_domain_aliases_tls12_and_waf(template: dict[str, Any]) -> None:
    cert = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    acl = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/y"
    config = distribution(
        template, DomainName="www.example.com", CertificateArn=cert, WebAclArn=acl
    )
    assert config["Aliases"] == ["www.example.com"]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": cert,
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }
    assert config["WebACLId"] == acl
    env = resolve(
        template["Globals"]["Function"]["Environment"]["Variables"],
        params={"DomainName": "www.example.com", "CertificateArn": cert},
        template=template,
    )
    assert env["API_BASE_URL"] == "https://www.example.com/"  # links in mail
    assert env["SUCCESS_URL"] == "https://www.example.com/confirmed.html"
    records = template["Resources"]["DomainRecords"]
    assert records["Condition"] == "HasDnsRecord"
    assert {r["Type"] for r in records["Properties"]["RecordSets"]} == {"A", "AAAA"}
    with_zone = {"DomainName": "a.example", "CertificateArn": cert, "HostedZoneId": "Z1"}
    assert resolve({"Condition": "HasDnsRecord"}, params=with_zone, template=template)
    assert not resolve(
        {"Condition": "HasDnsRecord"}, params={"HostedZoneId": "Z1"}, template=template
    )


def test_stream_records_are_given_up_well_inside_the_retention(template: dict[str, Any]) -> None:
    events = template["Resources"]["MailSender"]["Properties"]["Events"]
    age = events["Outbox"]["Properties"]["MaximumRecordAgeInSeconds"]
    assert age <= 6 * 3600  # the stream keeps 24 h: redrive has 18 h to read a record back
