def test_healthz_answers_200_when_database_and_broker_answer(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok"},
        "down": [],
    }


def test_healthz_answers_503_naming_the_broker_when_it_is_down(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["down"] == ["broker"]
    assert response.json()["checks"]["database"] == "ok"


def test_healthz_answers_503_naming_the_database_when_it_is_down(client, db, monkeypatch):
    import psycopg

    class RefusingConnection:
        def cursor(self):
            raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr("crm.health.connection", RefusingConnection())

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["down"] == ["database"]
