"""The CVAT stand-in's additions for the loop answer like CVAT 2.73: flows 11 (webhooks), 12 (a task from
uploaded frames, job states) and 13 (a task from another task's frames) are replayed against it in the
order they were recorded (flow 11 paused while 12 and 13 ran), ids mapped to the stand-in's, and status,
content type and JSON shape compared; its webhook deliveries are checked against what CVAT sent (11b)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from cvat_bridge.loops.webhook import signature_valid
from tests.conftest import data_path
from tests.cvat.test_standin_shapes import differences, shape
from tests.helpers.images import class_image, image_bytes
from tests.standins import ThreadedServer
from tests.standins.cvat import CvatStandin

FLOWS = data_path("cvat-recordings/flows")
SECRET = "replayed-secret"
KINDS = {"tasks": "task", "jobs": "job", "webhooks": "webhook", "projects": "project", "users": "user"}
NOT_SERVED = {("POST", "/api/projects"), ("GET", "/api/server/about"), ("POST", "/api/auth/login")}


def _ordered() -> list[tuple[str, dict[str, Any]]]:
    flow = {
        name: json.loads((FLOWS / f"{name}.json").read_text())
        for name in ("11_webhooks", "12_review_task_and_job_states", "13_task_from_frames_of_another_task")
    }
    paused = [e for e in flow["11_webhooks"] if e["seq"] <= 13]
    resumed = [e for e in flow["11_webhooks"] if e["seq"] > 13]
    order = [("11", e) for e in paused] + [("12", e) for e in flow["12_review_task_and_job_states"]]
    order += [("13", e) for e in flow["13_task_from_frames_of_another_task"]] + [("11", e) for e in resumed]
    return [
        (f"{name}#{e['seq']}", e)
        for name, e in order
        if (e["request"]["method"], e["request"]["path_template"]) not in NOT_SERVED
    ]


class Replay:
    """The stand-in with the recorded project and user, a webhook receiver, and the id map."""

    def __init__(self, cvat: CvatStandin, receiver: str, received: list[dict[str, Any]]) -> None:
        self.cvat, self.receiver, self.received = cvat, receiver, received
        project = cvat.add_project("rec-review-project", ["cat", "dog", "bird"])
        alice = cvat.add_user("alice")
        labels = [label["id"] for label in cvat.projects[project].labels]
        self.ids: dict[str, dict[int, int]] = {
            "project": {7: project},
            "user": {1: 1, 2: alice},
            "label": dict(zip((91, 92, 93), labels, strict=True)),
            "task": {},
            "job": {},
            "webhook": {},
            "delivery": {},
            "tag": {},
        }
        self.http = httpx.Client(
            base_url=cvat.url, timeout=30, headers={"Authorization": f"Bearer {cvat.access_token}"}
        )

    def our(self, kind: str, value: Any) -> Any:
        return self.ids[kind].get(int(value), value) if str(value).isdigit() else value

    def send(self, exchange: dict[str, Any]) -> httpx.Response:
        recorded = exchange["request"]
        path = re.sub(
            r"/api/(tasks|jobs|webhooks|projects)/(\d+)",
            lambda m: f"/api/{m[1]}/{self.our(KINDS[m[1]], m[2])}",
            recorded["path"],
        )
        path = re.sub(r"/deliveries/(\d+)", lambda m: f"/deliveries/{self.our('delivery', m[1])}", path)
        path = re.sub(r"target_id%3D(\d+)", lambda m: f"target_id%3D{self.our('task', m[1])}", path)
        query = dict(recorded.get("query") or {})
        for key, kind in (("task_id", "task"), ("project_id", "project")):
            if key in query:
                query[key] = str(self.our(kind, query[key]))
        body = recorded.get("body") or {}
        headers = {k: v for k, v in recorded["headers"].items() if k.lower().startswith("upload-")}
        if "multipart_parts" in body:
            files = {
                part["name"]: (
                    part["filename"].rsplit("/", 1)[-1],
                    image_bytes(class_image("red", index)),
                    "image/jpeg",
                )
                for index, part in enumerate(body["multipart_parts"])
                if "filename" in part
            }
            return self.http.post(
                path, params=query, headers=headers, data={"image_quality": "70"}, files=files
            )
        payload = self._json(body.get("json"))
        return self.http.request(recorded["method"], path, params=query, headers=headers, json=payload)

    def _json(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        value = dict(value)
        if "target_url" in value:
            value["target_url"], value["secret"] = self.receiver, SECRET
        for key, kind in (("project_id", "project"), ("assignee_id", "user"), ("assignee", "user")):
            if key in value:
                value[key] = self.our(kind, value[key])
        if "tags" in value:
            value["tags"] = [
                {
                    **tag,
                    "label_id": self.our("label", tag["label_id"]),
                    **({"id": self.our("tag", tag["id"])} if "id" in tag else {}),
                }
                for tag in value["tags"]
            ]
        return value

    def learn(self, exchange: dict[str, Any], answer: httpx.Response) -> None:
        """Map the recorded ids of what this exchange created to the stand-in's."""
        recorded = (exchange["response"].get("body") or {}).get("json")
        ours = (
            answer.json()
            if answer.headers.get("content-type", "").endswith("json") and answer.content
            else None
        )
        template = (exchange["request"]["method"], exchange["request"]["path_template"])
        pairs = {
            ("POST", "/api/tasks"): "task",
            ("POST", "/api/webhooks"): "webhook",
            ("POST", "/api/webhooks/{id}/ping"): "delivery",
        }
        if template in pairs:
            self.ids[pairs[template]][recorded["id"]] = ours["id"]
        if template == ("GET", "/api/jobs"):
            for rec, our in zip(recorded["results"], ours["results"], strict=True):
                self.ids["job"][rec["id"]] = our["id"]
        if isinstance(recorded, dict) and "tags" in recorded and exchange["request"]["method"] == "PATCH":
            for rec, our in zip(recorded["tags"], ours["tags"], strict=True):
                self.ids["tag"][rec["id"]] = our["id"]


@pytest.fixture(scope="module")
def replay() -> Iterator[Replay]:
    received: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/cvat-webhook")
    async def receive(request: Request) -> dict[str, bool]:
        received.append({"headers": dict(request.headers), "body": await request.body()})
        return {"ok": True}

    with ThreadedServer(app) as receiver, CvatStandin() as cvat:
        yield Replay(cvat, f"{receiver.url}/cvat-webhook", received)


EXCHANGES = _ordered()


@pytest.mark.parametrize("name,exchange", EXCHANGES, ids=[name for name, _ in EXCHANGES])
def test_review_flows_answer_like_cvat(replay: Replay, name: str, exchange: dict[str, Any]) -> None:
    if exchange["request"]["path_template"].endswith("/deliveries"):
        replay.cvat.webhooks.wait_idle()  # the recording waited for the receiver to go quiet
    answer = replay.send(exchange)
    recorded = exchange["response"]
    assert answer.status_code == recorded["status"], answer.text
    assert answer.headers.get("content-type") == recorded["headers"].get("content-type")
    body = recorded.get("body") or {}
    if "json" in body:
        assert differences(shape(body["json"]), shape(answer.json())) == []
    elif "image" in body:
        assert answer.headers["content-type"] == body["content_type"]
    else:
        assert answer.content == b""
    if "location" in recorded["headers"]:
        assert answer.headers["location"] == answer.json()["url"]
    replay.learn(exchange, answer)


def _unchanged(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key not in ("before_update", "changes")}


def test_deliveries_are_signed_and_shaped_like_cvats(replay: Replay) -> None:
    """After the replay: every delivery is json.dumps(payload), signed with the secret, with CVAT's headers,
    and each event's payload has the keys (recursively, value types) of the one CVAT sent."""
    replay.cvat.webhooks.wait_idle()
    recorded = json.loads((FLOWS / "11b_webhook_deliveries.json").read_text())
    by_event: dict[str, list[dict[str, Any]]] = {}
    for item in recorded:
        by_event.setdefault(item["event"], []).append(item["request"])
    assert replay.received, "the replay caused no delivery"
    seen = set()
    for delivery in replay.received:
        payload = json.loads(delivery["body"])
        assert delivery["body"] == json.dumps(payload).encode()
        assert signature_valid(SECRET, delivery["body"], delivery["headers"]["x-signature-256"])
        event = payload["event"]
        cvat_sent = by_event[event]
        assert delivery["headers"]["user-agent"] == cvat_sent[0]["headers"]["User-Agent"]
        assert delivery["headers"]["content-type"] == cvat_sent[0]["headers"]["Content-Type"]
        # Like one of CVAT's deliveries of this event (a task before and after its data differ);
        # before_update / changes name the fields this one change touched: compared by their form.
        ours = shape(_unchanged(payload))
        problems = [differences(shape(_unchanged(sent["body"])), ours) for sent in cvat_sent]
        assert [] in problems, (event, min(problems, key=len))
        if "changes" in payload:
            assert set(payload["changes"]) == set(payload["before_update"]) and payload["changes"]
            assert all(set(change) == {"from", "to"} for change in payload["changes"].values())
        seen.add(event)
    assert {"ping", "update:job", "update:task", "update:project", "create:task", "create:job"} <= seen
