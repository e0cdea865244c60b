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
