"""django-allauth's messages whose Arabic we word ourselves, to follow the glossary in
docs/i18n.md (allauth's own Arabic catalogue says "الاشتراك" for sign up and writes
"البريد الالكتروني" without its hamza, among others).

Nothing calls this module: listing a message here with ``gettext_noop`` puts it into our
catalogue (``make messages``, ``manage.py catalogue check``), and our catalogue wins over
allauth's (``LOCALE_PATHS`` come before the apps' catalogues). The English stays
allauth's, word for word; only the Arabic is ours. ``tests/i18n/test_allauth_glossary.py``
reads the rendered sign-in, sign-up and password-reset pages in Arabic.
"""

from django.utils.translation import gettext_noop

OVERRIDDEN = (
    # Sign up: "إنشاء حساب", never "الاشتراك" / "التسجيل".
    gettext_noop("Sign Up"),
    gettext_noop("Signup"),
    gettext_noop("Sign up using a passkey"),
    gettext_noop("Passkey Sign Up"),
    gettext_noop("Sign Up Closed"),
    gettext_noop("We are sorry, but the sign up is currently closed."),
    gettext_noop("Already have an account? Then please %(link)ssign in%(end_link)s."),
    # Email: "البريد الإلكتروني", with its hamza.
    gettext_noop("Email (optional)"),
    gettext_noop("Email or phone"),
    gettext_noop("Email Address"),
    gettext_noop("Email Addresses"),
    gettext_noop("Current email"),
    gettext_noop("Email Changed"),
    gettext_noop("Email Removed"),
    gettext_noop("Email Verification"),
    gettext_noop("Your email has been confirmed."),
    # Password and account pages in the glossary's words.
    gettext_noop("Password (again)"),
    gettext_noop("Password Reset"),
    gettext_noop("Reset My Password"),
    gettext_noop(
        "Forgotten your password? Enter your email address below, and we'll send you an "
        "email allowing you to reset it."
    ),
    gettext_noop("Sign-In Code"),
    gettext_noop("Send me a sign-in code"),
)
