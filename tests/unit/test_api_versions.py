"""The REST API's version documents, microversion negotiation and routing errors."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from tests.unit.api_helpers import MEMBER, V, fault, mv

pytest_plugins = ["tests.unit.api_support"]  # the store and client fixtures


def test_root_lists_v1_without_version_headers(client: Client) -> None:
    r = client.get("/")
    assert r.status_code == 200
    (v1,) = r.get_json()["versions"]
    assert v1["id"] == "v1.0" and v1["min_version"] == "1.0" and v1["version"] == "1.3"
    assert v1["links"] == [{"rel": "self", "href": "http://localhost/v1/"}]
    assert V not in r.headers


@pytest.mark.parametrize("path", ["/v1", "/v1/"])
def test_v1_document_carries_the_version_headers(client: Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    doc = r.get_json()["version"]
    assert doc["status"] == "CURRENT" and doc["links"][0]["rel"] == "self"
    assert r.headers[V] == "instance-ha 1.0"
    assert r.headers["Vary"] == V


@pytest.mark.parametrize(
    ("asked", "answered"),
    [("1.0", "1.0"), ("1.1", "1.1"), ("1.2", "1.2"), ("1.3", "1.3"), ("latest", "1.3")],
)
def test_supported_versions_are_echoed(client: Client, asked: str, answered: str) -> None:
    r = client.get("/v1/segments", headers=mv(asked))
    assert r.status_code == 200
    assert r.headers[V] == f"instance-ha {answered}"


def test_legacy_header_and_other_services_in_the_header(client: Client) -> None:
    r = client.get("/v1/segments", headers={"X-OpenStack-Instance-HA-API-Version": "1.2"})
    assert r.headers[V] == "instance-ha 1.2"
    r = client.get("/v1/segments", headers={V: "compute 2.53, instance-ha 1.1"})
    assert r.headers[V] == "instance-ha 1.1"


@pytest.mark.parametrize("asked", ["1.4", "2.0", "1.10"])
def test_unsupported_version_is_406_with_vary_only(client: Client, asked: str) -> None:
    r = client.get("/v1/segments", headers=mv(asked))
    assert "is not supported by the API. Minimum is 1.0 and maximum is 1.3." in fault(r, 406)
    assert r.get_json().keys() == {"masakariFault"}
    assert r.headers["Vary"] == V and V not in r.headers


@pytest.mark.parametrize("asked", ["1", "01.1", "1.01", "0.9", "one.two", "1.2.3"])
def test_malformed_version_is_400(client: Client, asked: str) -> None:
    r = client.get("/v1/segments", headers=mv(asked))
    assert "is of invalid format" in fault(r, 400)
    assert V not in r.headers


def test_errors_under_v1_carry_the_version_headers(client: Client) -> None:
    r = client.get("/v1/segments/nope", headers=mv("1.2"))
    fault(r, 404)
    assert r.headers["Content-Type"] == "application/json; charset=UTF-8"  # Masakari's
    assert r.get_json().keys() == {"itemNotFound"}
    assert r.headers[V] == "instance-ha 1.2" and r.headers["Vary"] == V


def test_unknown_path_is_404_and_wrong_method_405(client: Client) -> None:
    assert fault(client.get("/v2/segments"), 404)
    r = client.patch("/v1/segments")
    fault(r, 405)
    assert r.get_json().keys() == {"badMethod"}


def test_project_id_in_the_path_must_be_the_callers(client: Client) -> None:
    # noauth's default caller is project "admin": not hex, so a hex id is never it.
    r = client.get("/v1/0123abcd/segments", headers=MEMBER | {"X-Project-Id": "0123abcd"})
    assert fault(r, 403)  # the route is found and policy judged the member
    r = client.get("/v1/0123abcd/segments", headers={"X-Project-Id": "0123abcd"})
    assert r.status_code == 200 and r.get_json() == {"segments": []}
    r = client.get("/v1/0123abcd/segments", headers={"X-Project-Id": "ffff"})
    assert "doesn't match Context's project_id" in fault(r, 400)


def test_links_follow_the_mount_point_of_a_wsgi_server(client: Client) -> None:
    r = client.get("/", base_url="http://localhost/instance-ha/")
    assert r.get_json()["versions"][0]["links"][0]["href"] == "http://localhost/instance-ha/v1/"
