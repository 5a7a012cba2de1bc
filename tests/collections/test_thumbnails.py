"""The images of a collection through the API: pages of images with thumbnail URLs, the thumbnails (their
token, their caching), and the skipped and duplicate files of the import report as pictures."""

from __future__ import annotations

import io
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from tests.collections.conftest import OpenClient
from tests.collections.zips import upload, write_zip
from tests.helpers.images import class_image, image_bytes


def _zip(tmp_path: Path) -> Path:
    files = {
        f"{label}/{label}_{i}.jpg": image_bytes(class_image(label, i, size=(400, 300)))
        for label in ("red", "blue")
        for i in range(5)
    }
    files["red/copy_of_0.jpg"] = files["red/red_0.jpg"]  # a duplicate
    files["red/animated.gif"] = image_bytes(class_image("red", 99, size=(300, 200)), "GIF")  # unsupported
    files["blue/broken.jpg"] = b"\xff\xd8 not really a jpeg"  # corrupt
    files["stray.png"] = image_bytes(class_image("green", 5, size=(100, 200)), "PNG")  # outside the classes
    return write_zip(tmp_path / "colours.zip", files)


def _picture(response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    return Image.open(io.BytesIO(response.content))


def test_pages_of_images_and_their_thumbnails(open_client: OpenClient, tmp_path: Path) -> None:
    services, client = open_client()  # SQLite and PostgreSQL
    collection = upload(client, _zip(tmp_path), name="colours").json()
    cid = collection["id"]
    anonymous = TestClient(client.app)  # a browser's <img>: no Authorization header

    first = client.get(f"/api/collections/{cid}/images", params={"limit": 4}).json()
    assert (first["total"], len(first["items"])) == (11, 4)
    rest = client.get(f"/api/collections/{cid}/images", params={"offset": 4, "limit": 200}).json()
    assert len(rest["items"]) == 7
    assert {i["id"] for i in first["items"]}.isdisjoint(i["id"] for i in rest["items"])
    val_red = client.get(f"/api/collections/{cid}/images", params={"split": "val", "label": "red"}).json()
    assert val_red["total"] == collection["splits"]["val"]["red"]
    assert {(i["split"], i["label"]) for i in val_red["items"]} == {("val", "red")}

    item = first["items"][0]
    thumbnail = anonymous.get(item["thumbnail"])
    assert max(_picture(thumbnail).size) == 192 and _picture(thumbnail).size == (192, 144)
    assert "max-age=31536000" in thumbnail.headers["cache-control"]
    cached = services.storage.collection_dir(cid) / ".thumbnails" / f"{item['id']}.jpg"
    made_at = cached.stat().st_mtime_ns
    again = anonymous.get(item["thumbnail"])
    assert again.content == thumbnail.content and cached.stat().st_mtime_ns == made_at  # made once
    revalidated = anonymous.get(item["thumbnail"], headers={"If-None-Match": thumbnail.headers["etag"]})
    assert revalidated.status_code == 304 and not revalidated.content

    # The token opens this collection's thumbnails only; the API token opens any.
    path = item["thumbnail"].split("?")[0]
    assert anonymous.get(path).status_code == 401
    assert anonymous.get(f"{path}?token=wrong").status_code == 401
    other = upload(client, _zip(tmp_path), name="other").json()
    other_item = client.get(f"/api/collections/{other['id']}/images", params={"limit": 1}).json()["items"][0]
    other_token = other_item["thumbnail"].split("?token=")[1]
    assert anonymous.get(f"{path}?token={other_token}").status_code == 401
    assert anonymous.get(f"/api/thumbnails/{other['id']}/{item['id']}?token={other_token}").status_code == 404
    assert client.get(path).status_code == 200
    assert anonymous.get(f"/api/thumbnails/999/1?token={other_token}").status_code == 401
    assert client.get("/api/thumbnails/999/1").status_code == 404
    assert anonymous.get(f"/api/collections/{cid}/images").status_code == 401  # the lists need the API token


def test_report_files_as_pictures(client: TestClient, tmp_path: Path) -> None:
    collection = upload(client, _zip(tmp_path), name="colours").json()
    files = client.get(f"/api/collections/{collection['id']}/report-files").json()
    anonymous = TestClient(client.app)

    skipped = {item["path"]: item for item in files["skipped"]}
    assert skipped.keys() == {"red/animated.gif", "blue/broken.jpg", "stray.png"}
    assert skipped["stray.png"]["kind"] == "outside_class_folder"  # never extracted: read from the zip
    assert _picture(anonymous.get(skipped["stray.png"]["thumbnail"])).size == (96, 192)
    assert skipped["red/animated.gif"]["kind"] == "unsupported_format"
    assert _picture(anonymous.get(skipped["red/animated.gif"]["thumbnail"])).size == (192, 128)
    assert skipped["blue/broken.jpg"]["thumbnail"] is None  # nothing to show; its reason says why
    assert "corrupt" in skipped["blue/broken.jpg"]["reason"]

    [group] = files["duplicates"]
    assert sorted(image["path"] for image in group["images"]) == ["red/copy_of_0.jpg", "red/red_0.jpg"]
    pictures = [anonymous.get(image["thumbnail"]).content for image in group["images"]]
    assert pictures[0] == pictures[1]  # the same picture, twice
