"""Upload the pages (web/) to the stack's bucket and refresh CloudFront; empty it before delete.

    python -m regflow.publish --stack regflow [--region us-east-1] [--source web] [--no-invalidate]
    python -m regflow.publish --stack regflow --empty    # every object version (make destroy)

The bucket and distribution come from the stack's outputs (`SiteBucket`, `DistributionId`,
`RegistrationPageUrl`). The pages call `/register` and `/confirm` on their own origin
(CloudFront routes those paths to the API), so they are uploaded unchanged: no URL is baked in.

Objects get a Content-Type by extension and a Cache-Control: a minute for HTML (a new deploy
shows at once, with the invalidation), an hour for CSS/JS and other assets. Objects in the
bucket that are no longer in the source folder are removed. Every AWS client is passed in, so
the tests run this against moto.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from regflow.render import SUPPORTED_LANGUAGES
from regflow.render.catalog import Catalog

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

log = logging.getLogger("regflow.publish")

CONTENT_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".webmanifest": "application/manifest+json",
    ".map": "application/json",
}
HTML_CACHE_CONTROL = "public, max-age=60"
ASSET_CACHE_CONTROL = "public, max-age=3600"


class PublishError(Exception):
    """The stack or the source folder is not what publishing needs."""


@dataclass(frozen=True, slots=True)
class StackSite:
    bucket: str
    distribution_id: str | None
    page_url: str | None
    site_name: str = "regflow"  # the stack's SiteName parameter (SITE_NAME)


@dataclass(frozen=True, slots=True)
class PublishResult:
    uploaded: tuple[str, ...]
    deleted: tuple[str, ...]
    invalidation_id: str | None
    page_url: str | None


def content_type(path: PurePosixPath | Path) -> str:
    try:
        return CONTENT_TYPES[path.suffix.lower()]
    except KeyError:
        raise PublishError(f"no content type known for {path.name!r}") from None


def cache_control(path: PurePosixPath | Path) -> str:
    return HTML_CACHE_CONTROL if path.suffix.lower() == ".html" else ASSET_CACHE_CONTROL


def site_files(source: Path) -> dict[str, Path]:
    """Object key -> file, for every file under `source` except hidden ones (.*)."""
    if not source.is_dir():
        raise PublishError(f"{source} is not a folder")
    files: dict[str, Path] = {}
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            files[relative.as_posix()] = path
    if "index.html" not in files:
        raise PublishError(f"{source} has no index.html (the distribution's root object)")
    return files


def stack_site(cloudformation: Any, stack_name: str) -> StackSite:
    """The bucket, distribution and page URL from the stack's outputs."""
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    bucket = outputs.get("SiteBucket")
    if not bucket:
        raise PublishError(f"stack {stack_name!r} has no SiteBucket output")
    parameters = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in stacks[0].get("Parameters", [])
    }
    return StackSite(
        bucket=bucket,
        distribution_id=outputs.get("DistributionId"),
        page_url=outputs.get("RegistrationPageUrl"),
        site_name=(parameters.get("SiteName") or "").strip() or "regflow",
    )


def catalog_files(catalog: Catalog, site: str | None = None) -> dict[str, bytes]:
    """Object key -> body of the page scripts' words: `i18n/<lang>.json` for every language,
    from the message catalog (with the owner's overrides, if the catalog has them), and the
    site's name when given."""
    return {
        f"i18n/{lang}.json": json.dumps(
            catalog.web_messages(lang, site=site), ensure_ascii=False, sort_keys=True
        ).encode("utf-8")
        for lang in SUPPORTED_LANGUAGES
    }


def upload(
    s3: S3Client,
    bucket: str,
    source: Path,
    *,
    prune: bool = True,
    catalog: Catalog | None = None,
    site: str | None = None,
) -> PublishResult:
    """Upload every file of `source` and the catalog's `i18n/<lang>.json` (with the site's
    name, when given); with `prune`, delete objects that are neither."""
    files = site_files(source)
    words = catalog_files(catalog or Catalog(), site)
    # Check every extension before the first upload: all or nothing.
    headers = {key: (content_type(path), cache_control(path)) for key, path in files.items()}
    for key, path in files.items():
        kind, cache = headers[key]
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType=kind,
            CacheControl=cache,
        )
        log.info("uploaded %s (%s)", key, kind)
    for key, body in words.items():
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            CacheControl=HTML_CACHE_CONTROL,  # words change with a deploy: a short cache
        )
        log.info("uploaded %s (application/json)", key)
    keys = {*files, *words}
    deleted: list[str] = []
    if prune:
        stale = [
            obj["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for obj in page.get("Contents", [])
            if obj["Key"] not in keys
        ]
        for start in range(0, len(stale), 1000):
            batch = stale[start : start + 1000]
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
            deleted.extend(batch)
    return PublishResult(
        uploaded=(*files, *words), deleted=tuple(deleted), invalidation_id=None, page_url=None
    )


def empty_bucket(s3: S3Client, bucket: str) -> int:
    """Delete every object version and delete marker (the bucket is versioned), so that
    CloudFormation can delete the bucket. Returns how many were deleted."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        batch: list[ObjectIdentifierTypeDef] = [
            {"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions
        ]
        for start in range(0, len(batch), 1000):
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": batch[start : start + 1000], "Quiet": True}
            )
        deleted += len(batch)
    return deleted


def invalidate(cloudfront: Any, distribution_id: str, paths: Sequence[str] = ("/*",)) -> str:
    """Start a CloudFront invalidation; returns its id (it completes in the background)."""
    response = cloudfront.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(paths), "Items": list(paths)},
            "CallerReference": f"regflow-publish-{time.time_ns()}",
        },
    )
    return str(response["Invalidation"]["Id"])


def publish(
    *,
    cloudformation: Any,
    s3: S3Client,
    cloudfront: Any | None,
    stack_name: str,
    source: Path,
    prune: bool = True,
    catalog: Catalog | None = None,
) -> PublishResult:
    """Upload `source` to the stack's bucket; invalidate its distribution when `cloudfront`."""
    site = stack_site(cloudformation, stack_name)
    result = upload(s3, site.bucket, source, prune=prune, catalog=catalog, site=site.site_name)
    invalidation = None
    if cloudfront is not None and site.distribution_id:
        invalidation = invalidate(cloudfront, site.distribution_id)
    return PublishResult(
        uploaded=result.uploaded,
        deleted=result.deleted,
        invalidation_id=invalidation,
        page_url=site.page_url,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m regflow.publish", description="Upload web/ to the stack's bucket."
    )
    parser.add_argument("--stack", required=True, help="CloudFormation stack name")
    parser.add_argument("--region", default=None, help="AWS region (default: your AWS config)")
    parser.add_argument("--source", type=Path, default=Path("web"), help="folder of pages")
    parser.add_argument("--no-invalidate", action="store_true", help="skip the invalidation")
    parser.add_argument("--keep-stale", action="store_true", help="keep objects not in source")
    parser.add_argument(
        "--templates-dir",
        type=Path,
        default=Path(os.environ["TEMPLATES_DIR"]) if os.environ.get("TEMPLATES_DIR") else None,
        help="the site's own words (catalog/<lang>.json) for the pages (default TEMPLATES_DIR)",
    )
    parser.add_argument(
        "--empty", action="store_true", help="instead: delete every object version in the bucket"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session(region_name=args.region)
    try:
        if args.empty:
            site = stack_site(session.client("cloudformation"), args.stack)
            count = empty_bucket(session.client("s3"), site.bucket)
            print(f"emptied s3://{site.bucket} ({count} object versions deleted)")
            return 0
        result = publish(
            cloudformation=session.client("cloudformation"),
            s3=session.client("s3"),
            cloudfront=None if args.no_invalidate else session.client("cloudfront"),
            stack_name=args.stack,
            source=args.source,
            prune=not args.keep_stale,
            catalog=Catalog(args.templates_dir),
        )
    except PublishError as exc:
        print(f"publish: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"publish: AWS said: {exc}", file=sys.stderr)
        return 1
    print(f"uploaded {len(result.uploaded)} files, removed {len(result.deleted)}")
    if result.invalidation_id:
        print(f"CloudFront invalidation {result.invalidation_id} started")
    if result.page_url:
        print(f"registration page: {result.page_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
