from fastapi.testclient import TestClient


def test_create_and_read(client: TestClient, auth_headers: dict[str, str]) -> None:
    created = client.post("/api/tasks", json={"title": "x"}, headers=auth_headers)
    read = client.get(created.headers["location"], headers=auth_headers)

    assert created.status_code == 201
    assert read.json() == created.json()
