import pytest


@pytest.mark.django_db
def test_dashboard_needs_sign_in(client):
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_dashboard_shows_empty_states(client_for, user):
    response = client_for(user).get("/dashboard")
    assert response.status_code == 200
    assert b"Create your first API key" in response.content
