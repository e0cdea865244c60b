"""Issue 27: names that are unique per account rather than per region (CloudFront's origin
access control and response headers policy; the dashboard) carry the region, so one stack name
can be deployed in two regions of one account; and they fit their limits at the longest stack
name `make deploy` accepts in the longest region name."""

from __future__ import annotations

from typing import Any

from regflow.ops import deploy
from tests.support.aws import load_template, resolve

LONGEST_STACK = "s" * 40  # deploy.STACK_NAME's limit
LONGEST_REGION = "ap-southeast-3"  # 14 characters, as long as any region name is
LIMITS = {  # CloudFront's limits on these names
    "AWS::CloudFront::OriginAccessControl": 64,
    "AWS::CloudFront::ResponseHeadersPolicy": 64,
}


def names(template: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    out = {}
    for logical, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudFront::OriginAccessControl":
            out[logical] = (resource["Type"], props["OriginAccessControlConfig"]["Name"])
        elif resource["Type"] == "AWS::CloudFront::ResponseHeadersPolicy":
            out[logical] = (resource["Type"], props["ResponseHeadersPolicyConfig"]["Name"])
        elif resource["Type"] == "AWS::CloudWatch::Dashboard":
            out[logical] = (resource["Type"], props["DashboardName"])
    return out


def test_account_wide_names_carry_the_region_and_fit() -> None:
    template = load_template()
    found = names(template)
    assert set(found) == {"SiteOriginAccessControl", "SecurityHeadersPolicy", "Dashboard"}
    assert deploy.STACK_NAME.match(LONGEST_STACK)
    for logical, (kind, name) in found.items():
        assert "${AWS::Region}" in name["Fn::Sub"], logical
        one = resolve(name, stack="site", template=template)
        other = resolve(name, stack="site", template=template, region="us-west-2")
        assert one != other, logical  # the same stack in two regions: two names
        longest = resolve(name, stack=LONGEST_STACK, template=template, region=LONGEST_REGION)
        assert len(longest) <= LIMITS.get(kind, 255), (logical, longest)


def test_the_fixed_monitoring_cost_counts_what_the_template_has() -> None:
    """docs/aws.md prices the alarms by the metrics they read and the dashboards by count:
    the counts it states are the template's."""
    import re

    from tests.support.aws import ROOT

    resources = load_template()["Resources"]
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    metrics = sum(
        sum(1 for m in a["Properties"]["Metrics"] if "MetricStat" in m)
        if "Metrics" in a["Properties"]
        else 1
        for a in alarms
    )
    dashboards = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    text = (ROOT / "docs" / "aws.md").read_text(encoding="utf-8")
    row = re.search(
        r"\| CloudWatch alarms \| (\d+) alarms, which read (\d+) metrics.*\$([\d.]+) \|", text
    )
    assert row, "the alarms' row of the cost table"
    assert (int(row[1]), int(row[2])) == (len(alarms), metrics)
    assert float(row[3]) == round(metrics * 0.10, 2)
    assert re.search(rf"\| CloudWatch dashboard \| {len(dashboards)} ", text)


def test_the_ses_events_key_is_optional_and_only_for_this_stacks_ses() -> None:
    template = load_template()
    resources = template["Resources"]
    assert template["Parameters"]["SesEventsKey"]["Default"] == "off"
    key = resources["SesEventsTopicKey"]
    assert key["Condition"] == "EncryptSesEvents"
    assert key["Properties"]["EnableKeyRotation"] is True
    topic = resources["SesEventsTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {
        "Fn::If": ["EncryptSesEvents", {"Ref": "SesEventsTopicKey"}, {"Ref": "AWS::NoValue"}]
    }
    [ses] = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Sid"] == "SesPublishesEncrypted"
    ]
    assert ses["Principal"] == {"Service": "ses.amazonaws.com"}
    condition = ses["Condition"]["StringEquals"]
    assert condition["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert "configuration-set/${SesConfigurationSet}" in condition["aws:SourceArn"]["Fn::Sub"]
