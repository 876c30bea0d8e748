"""Signing in through the real two-step login page (email, then password), as a person does."""

from tests.accounts.factories import DEFAULT_PASSWORD


def sign_in(page, user) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    page.get_by_role("heading", name="Welcome", exact=False).wait_for()
