"""The deployment: the functions' zip, the template in moto's CloudFormation, and a folder
imported through the deployed shape.

Stand-ins, since AWS cannot be reached from here: moto's server mode for S3, DynamoDB,
SQS, IAM, Lambda and CloudFormation, and `facealbum rekognition serve` for Rekognition.
moto creates the stack's resources but runs no function code, creates no function URL
and does not apply a bucket's NotificationConfiguration; the import test therefore wires
the notification itself and plays the part of Lambda's SQS event source mapping (a
thread that takes the queue's messages to ``on_upload`` and deletes all but the
failures it reports), as the deployed mapping does with ReportBatchItemFailures."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import boto3
import pytest
from aws_stand_in import event_source_mapping, notify_queue
from conftest import PHOTOS, cli, engine_settings

from facealbum.aws.deploy import package
from facealbum.wiring import open_album


@pytest.fixture(scope="module")
def function_zip(tmp_path_factory):
    """The real package, built from the registry (Linux x86-64 wheels, no dlib)."""
    return package(tmp_path_factory.mktemp("dist"))


def test_the_package_holds_no_dlib_and_runs_on_its_own(function_zip, tmp_path):
    with zipfile.ZipFile(function_zip) as z:
        names = z.namelist()
        unpacked = sum(i.file_size for i in z.infolist())
        z.extractall(tmp_path / "fn")
    assert "facealbum/aws/handlers.py" in names and "facealbum/web/static/js/main.js" in names
    assert not [n for n in names if n.lower().startswith(("dlib", "face_recognition_models"))]
    assert not [n for n in names if n.lower().startswith("faiss")]  # the local engine's
    assert unpacked < 250 * 2**20  # Lambda's limit for an unzipped package
    # a bare interpreter (no site-packages) with only the package on its path
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import facealbum.aws.handlers, mangum\n"
        "from facealbum.web.app import create_app\n"
        "try:\n    import dlib\nexcept ImportError:\n    print('no dlib')\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(tmp_path / "fn")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no dlib"


def policy_statements(iam, role_arn: str) -> list[dict]:
    role = role_arn.rsplit("/", 1)[-1]
    out = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(doc, str):  # moto hands back what CloudFormation stored: a repr
            doc = ast.literal_eval(doc) if doc.startswith("{'") else json.loads(doc)
        out += doc["Statement"]
    return out


def test_deploy_creates_the_stack_and_a_folder_imports_through_it(
    function_zip, moto_endpoint, request, tmp_path, monkeypatch
):
    prefix = f"fa{os.urandom(3).hex()}"
    secret = "the owner's own secret"
    deployed = cli(
        "aws", "deploy", "--stack", prefix, "--package", str(function_zip),
        home=tmp_path / "home", env_extra={"FACEALBUM_OWNER_SECRET": secret},
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    updated = cli(
        "aws", "deploy", "--stack", prefix, "--package", str(function_zip),
        home=tmp_path / "home", env_extra={"FACEALBUM_OWNER_SECRET": secret},
    )  # fmt: skip
    assert updated.returncode == 0, updated.stdout + updated.stderr  # again: an update
    assert "updating stack" in updated.stdout

    s3, ddb, lam, iam = (boto3.client(s) for s in ("s3", "dynamodb", "lambda", "iam"))
    for bucket in ("originals", "thumbnails", "incoming", "site", "code"):
        s3.head_bucket(Bucket=f"{prefix}-{bucket}")
    for table in ("pics", "pics_by_image_id", "album"):
        described = ddb.describe_table(TableName=f"{prefix}-{table}")["Table"]
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    site = {o["Key"] for o in s3.list_objects_v2(Bucket=f"{prefix}-site")["Contents"]}
    assert {"index.html", "static/js/main.js", "static/js/picture.js", "static/app.css"} <= site
    upload_fn = lam.get_function(FunctionName=f"{prefix}-upload")["Configuration"]
    api_fn = lam.get_function(FunctionName=f"{prefix}-api")["Configuration"]
    assert upload_fn["Handler"] == "facealbum.aws.handlers.on_upload"
    assert api_fn["Handler"] == "facealbum.aws.handlers.api"
    assert api_fn["Environment"]["Variables"]["FACEALBUM_DATABASE_URL"] == f"dynamodb://{prefix}-"
    [mapping] = lam.list_event_source_mappings(FunctionName=f"{prefix}-upload")[
        "EventSourceMappings"
    ]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # the regrouping of people runs on a schedule, not at the end of each upload batch
    regroup_fn = lam.get_function(FunctionName=f"{prefix}-regroup")["Configuration"]
    assert regroup_fn["Handler"] == "facealbum.aws.handlers.on_schedule"
    events = boto3.client("events")
    [rule] = [r for r in events.list_rules()["Rules"] if r.get("ScheduleExpression")
              and any(t["Arn"] == regroup_fn["FunctionArn"]
                      for t in events.list_targets_by_rule(Rule=r["Name"])["Targets"])]  # fmt: skip
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    # least privilege: named actions on named resources (ListTables and DetectFaces alone
    # take no resource)
    for fn in (upload_fn, api_fn):
        for statement in policy_statements(iam, fn["Role"]):
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            assert not [a for a in actions if "*" in a], statement
            if statement["Resource"] == "*":
                assert actions in (["dynamodb:ListTables"], ["rekognition:DetectFaces"])
    upload_actions = {a for s in policy_statements(iam, upload_fn["Role"]) for a in s["Action"]}
    assert "rekognition:IndexFaces" in upload_actions
    assert "rekognition:SearchFacesByImage" not in upload_actions  # visitors' search: the API's
    api_actions = {a for s in policy_statements(iam, api_fn["Role"]) for a in s["Action"]}
    assert "rekognition:IndexFaces" not in api_actions and "dynamodb:Scan" in api_actions
    assert "s3:PutObject" not in api_actions  # photos arrive through the originals bucket
    assert api_fn["Environment"]["Variables"]["FACEALBUM_WEB_UPLOADS"] == "false"

    # -- import a folder through the deployed shape ---------------------------------
    lam.delete_event_source_mapping(UUID=mapping["UUID"])  # moto cannot run it; we do
    sqs = boto3.client("sqs")
    queue = sqs.get_queue_url(QueueName=f"{prefix}-uploads")["QueueUrl"]
    notify_queue(s3, sqs, f"{prefix}-originals", queue)  # as the stack's bucket does
    settings, env = engine_settings("rekognition", tmp_path / "fn-home", request)
    env |= {"FACEALBUM_BLOB_STORE": f"s3://{prefix}",
            "FACEALBUM_DATABASE_URL": f"dynamodb://{prefix}-"}  # fmt: skip
    for k, v in (env | {"FACEALBUM_HOME": str(tmp_path / "fn-home")}).items():
        monkeypatch.setenv(k, v)
    from facealbum.aws import handlers

    handlers._album.cache_clear()
    stop = threading.Event()
    errors: list[BaseException] = []

    def runs_the_function() -> None:
        try:
            event_source_mapping(sqs, queue, stop.is_set, handlers.on_upload)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    runner = threading.Thread(target=runs_the_function, daemon=True)
    runner.start()
    folder = tmp_path / "rome"
    for name in ("obama/obama.jpg", "obama/obama2.jpg", "groups/two_people.jpg", "nofaces/dog.jpg"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PHOTOS / name, folder / name)
    (folder / "notes.jpg").write_bytes(b"not a photo")
    try:
        imported = cli("aws", "import", str(folder), "--set", "Rome", "--timeout", "120",
                       "--nudge-after", "10",
                       home=tmp_path / "cli-home", env_extra=env)  # fmt: skip
    finally:
        stop.set()
        runner.join(10)
        handlers._album.cache_clear()
    assert errors == []
    assert imported.returncode == 1, imported.stdout + imported.stderr  # notes.jpg failed
    assert "4 added, 0 already there, 1 failed, 0 still waiting" in imported.stdout
    assert "notes.jpg" in imported.stdout
    album = open_album(settings.model_copy(update={
        "blob_store": f"s3://{prefix}", "database_url": f"dynamodb://{prefix}-"}))  # fmt: skip
    pictures = {p.name: p for p in album.get_set("Rome")[1]}
    assert sorted(pictures) == ["groups/two_people.jpg", "nofaces/dog.jpg", "obama/obama.jpg",
                                "obama/obama2.jpg"]  # fmt: skip
    assert sum(len(p.faces) for p in pictures.values()) == 4
    obama = pictures["obama/obama.jpg"].faces[0].face_id
    assert [m.picture.name for m in album.search(obama).matches][0] == "obama/obama.jpg"


def test_the_template_passes_cfn_lint():
    from facealbum.aws.deploy import TEMPLATE

    linted = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
