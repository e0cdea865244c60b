"""regflow.publish against moto's S3 and CloudFront (CloudFormation's answer is stubbed with
botocore's Stubber, which checks it against the real service model: moto's CloudFormation needs
extras this project does not install)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from regflow import publish

REGION = "us-east-1"
BUCKET = "regflow-pages-test"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>Register</title>", encoding="utf-8")
    (root / "confirmed.html").write_text("<!doctype html><title>Done</title>", encoding="utf-8")
    (root / "app.js").write_text("'use strict';\n", encoding="utf-8")
    (root / "assets" / "style.css").write_text("body{margin:0}\n", encoding="utf-8")
    (root / ".DS_Store").write_bytes(b"\0junk")
    return root


def objects(s3: Any) -> dict[str, dict[str, Any]]:
    listing = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"]) for o in listing}


def test_upload_sets_type_and_caching_by_extension(s3: Any, site: Path) -> None:
    result = publish.upload(s3, BUCKET, site)

    stored = objects(s3)
    words = {f"i18n/{lang}.json" for lang in ("en", "de", "fr", "es")}
    assert set(stored) == {"index.html", "confirmed.html", "app.js", "assets/style.css"} | words
    assert set(result.uploaded) == set(stored)
    assert stored["index.html"]["ContentType"] == "text/html; charset=utf-8"
    assert stored["app.js"]["ContentType"] == "text/javascript; charset=utf-8"
    assert stored["assets/style.css"]["ContentType"] == "text/css; charset=utf-8"
    assert stored["index.html"]["CacheControl"] == publish.HTML_CACHE_CONTROL
    assert stored["confirmed.html"]["CacheControl"] == publish.HTML_CACHE_CONTROL
    assert stored["app.js"]["CacheControl"] == publish.ASSET_CACHE_CONTROL
    assert stored["assets/style.css"]["CacheControl"] == publish.ASSET_CACHE_CONTROL
    html_age = int(publish.HTML_CACHE_CONTROL.rsplit("=", 1)[1])
    asset_age = int(publish.ASSET_CACHE_CONTROL.rsplit("=", 1)[1])
    assert html_age < asset_age
    for key, obj in stored.items():
        if key not in words:
            assert obj["Body"].read() == (site / key).read_bytes()


def test_the_page_scripts_words_come_from_the_catalog(s3: Any, site: Path, tmp_path: Path) -> None:
    """`i18n/<lang>.json` is the catalog's `web.*` part, with the owner's overrides."""
    from regflow.render.catalog import Catalog

    overrides = tmp_path / "site-words"
    (overrides / "catalog").mkdir(parents=True)
    (overrides / "catalog" / "de.json").write_text(
        json.dumps({"web.register.title": "Mitglied werden"}), encoding="utf-8"
    )
    publish.upload(s3, BUCKET, site, catalog=Catalog(overrides), site="Example Club")
    stored = objects(s3)
    german = json.loads(stored["i18n/de.json"]["Body"].read())
    assert german["web.register.title"] == "Mitglied werden"
    assert german == Catalog(overrides).web_messages("de", site="Example Club")
    assert german["web.site_name"] == "Example Club"  # SITE_NAME: the pages' titles end with it
    assert set(german) == set(json.loads(stored["i18n/en.json"]["Body"].read()))
    assert all(key.startswith("web.") for key in german)
    assert stored["i18n/de.json"]["ContentType"] == "application/json"


def test_upload_removes_stale_objects_unless_asked_to_keep(s3: Any, site: Path) -> None:
    s3.put_object(Bucket=BUCKET, Key="register2.html", Body=b"old page")

    kept = publish.upload(s3, BUCKET, site, prune=False)
    assert kept.deleted == ()
    assert "register2.html" in objects(s3)

    pruned = publish.upload(s3, BUCKET, site)
    assert pruned.deleted == ("register2.html",)
    assert "register2.html" not in objects(s3)
    assert "index.html" in objects(s3)


def test_unknown_extension_uploads_nothing(s3: Any, site: Path) -> None:
    (site / "notes.exe").write_bytes(b"MZ")
    with pytest.raises(publish.PublishError, match=r"notes\.exe"):
        publish.upload(s3, BUCKET, site)
    assert objects(s3) == {}


def test_folder_without_index_is_refused(s3: Any, site: Path) -> None:
    (site / "index.html").unlink()
    with pytest.raises(publish.PublishError, match=r"index\.html"):
        publish.upload(s3, BUCKET, site)
    assert objects(s3) == {}


def stubbed_cloudformation(outputs: dict[str, str]) -> tuple[Any, Stubber]:
    client = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "regflow",
                    "CreationTime": "2024-01-01T00:00:00Z",
                    "StackStatus": "CREATE_COMPLETE",
                    "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
                }
            ]
        },
        {"StackName": "regflow"},
    )
    stubber.activate()
    return client, stubber


def create_distribution(cloudfront: Any) -> str:
    response = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": "test",
            "Comment": "regflow test",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "pages",
                        "DomainName": f"{BUCKET}.s3.{REGION}.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "pages",
                "ViewerProtocolPolicy": "redirect-to-https",
                "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
            },
        }
    )
    return str(response["Distribution"]["Id"])


def test_publish_uses_the_stack_outputs_and_invalidates(s3: Any, site: Path) -> None:
    cloudfront = boto3.client("cloudfront", region_name=REGION)
    distribution_id = create_distribution(cloudfront)
    cloudformation, stubber = stubbed_cloudformation(
        {
            "SiteBucket": BUCKET,
            "DistributionId": distribution_id,
            "RegistrationPageUrl": "https://d111111abcdef8.cloudfront.net/",
        }
    )

    result = publish.publish(
        cloudformation=cloudformation,
        s3=s3,
        cloudfront=cloudfront,
        stack_name="regflow",
        source=site,
    )

    stubber.assert_no_pending_responses()
    assert result.page_url == "https://d111111abcdef8.cloudfront.net/"
    assert set(objects(s3)) == set(result.uploaded)
    invalidations = cloudfront.list_invalidations(DistributionId=distribution_id)
    assert [i["Id"] for i in invalidations["InvalidationList"]["Items"]] == [result.invalidation_id]
    detail = cloudfront.get_invalidation(DistributionId=distribution_id, Id=result.invalidation_id)[
        "Invalidation"
    ]["InvalidationBatch"]
    assert detail["Paths"]["Items"] == ["/*"]


def test_publish_without_cloudfront_does_not_invalidate(s3: Any, site: Path) -> None:
    cloudformation, _ = stubbed_cloudformation({"SiteBucket": BUCKET})
    result = publish.publish(
        cloudformation=cloudformation, s3=s3, cloudfront=None, stack_name="regflow", source=site
    )
    assert result.invalidation_id is None
    assert "index.html" in objects(s3)


def test_stack_without_bucket_output_is_refused(aws: None) -> None:
    cloudformation, _ = stubbed_cloudformation({"TableName": "UserRegistrations"})
    with pytest.raises(publish.PublishError, match="SiteBucket"):
        publish.stack_site(cloudformation, "regflow")


def test_empty_bucket_deletes_every_version_and_marker(s3: Any, site: Path) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    publish.upload(s3, BUCKET, site)
    publish.upload(s3, BUCKET, site)  # second versions of every page
    s3.put_object(Bucket=BUCKET, Key="old.html", Body=b"x")
    s3.delete_object(Bucket=BUCKET, Key="old.html")  # a delete marker over a version
    listing = s3.list_object_versions(Bucket=BUCKET)
    expected = len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))
    assert expected == 2 * (4 + 4) + 2  # 4 pages and 4 word files, twice; old.html and its marker

    assert publish.empty_bucket(s3, BUCKET) == expected

    after = s3.list_object_versions(Bucket=BUCKET)
    assert after.get("Versions", []) == []
    assert after.get("DeleteMarkers", []) == []
    s3.delete_bucket(Bucket=BUCKET)  # what CloudFormation does next: succeeds only when empty
