"""Languages: English by default, Simplified Chinese from a saved preference, the admin's switcher or Accept-Language
(preference > switcher cookie / Accept-Language > English); the catalogue is complete and current."""

import re
import shutil
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from apps.core.choices import AuditAction, Language
from apps.core.i18n import user_language_set
from apps.core.models import AuditLog, UserPreference
from tests.core.factories import UserFactory

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w*)\}")


# --- The catalogue ---------------------------------------------------------------------------------------------------


def _entries() -> list[polib.POEntry]:
    return [e for e in polib.pofile(str(CATALOGUE)) if not e.obsolete]


def test_languages_are_english_and_simplified_chinese_english_first() -> None:
    assert [code for code, _ in settings.LANGUAGES] == ["en", "zh-hans"] == list(Language.values)
    assert settings.LANGUAGE_CODE == "en"
    assert settings.USE_I18N


def test_the_catalogue_has_no_untranslated_or_fuzzy_entry() -> None:
    entries = _entries()
    assert entries, "the catalogue is empty"
    untranslated = [e.msgid for e in entries if not e.translated()]
    fuzzy = [e.msgid for e in entries if "fuzzy" in e.flags]
    assert untranslated == []
    assert fuzzy == []


def test_translations_keep_every_placeholder() -> None:
    """A translation that drops or renames %(name)s would raise (or lose data) when the message is formatted."""
    wrong = []
    for entry in _entries():
        forms = [entry.msgstr] if not entry.msgid_plural else list(entry.msgstr_plural.values())
        expected = sorted(_PLACEHOLDER.findall(entry.msgid_plural or entry.msgid))
        wrong += [(entry.msgid, form) for form in forms if sorted(_PLACEHOLDER.findall(form)) != expected]
    assert wrong == []


def test_the_catalogue_is_current(tmp_path, monkeypatch, settings) -> None:
    """Running makemessages over the code now would neither add nor drop a message."""
    if shutil.which("xgettext") is None:
        pytest.fail("GNU gettext (xgettext) is needed to extract messages: apt-get install gettext")
    # A copy of the code without the committed catalogue, so makemessages writes a fresh one into LOCALE_PATHS.
    source, out = tmp_path / "source", tmp_path / "locale"
    for top in ("apps", "aistack", "templates"):
        shutil.copytree(
            Path(settings.BASE_DIR) / top, source / top, ignore=shutil.ignore_patterns("__pycache__", "migrations")
        )
    monkeypatch.chdir(source)
    settings.LOCALE_PATHS = [out]
    call_command("makemessages", locale=["zh_Hans"], verbosity=0)
    extracted = {(e.msgctxt, e.msgid) for e in polib.pofile(str(out / "zh_Hans" / "LC_MESSAGES" / "django.po"))}
    committed = {(e.msgctxt, e.msgid) for e in _entries()}
    assert sorted(extracted - committed, key=str) == [], "messages in the code missing from the catalogue"
    assert sorted(committed - extracted, key=str) == [], "messages in the catalogue no longer in the code"


def test_the_compiled_catalogue_is_the_committed_one(tmp_path) -> None:
    """The .mo the suite runs with (compiled by compile_catalogues) holds exactly the .po's translations."""
    from apps.core.locale_compile import catalogue_compile

    target = tmp_path / "zh_Hans" / "LC_MESSAGES"
    target.mkdir(parents=True)
    shutil.copy(CATALOGUE, target / "django.po")
    assert catalogue_compile(locale_dirs=[tmp_path]) == [target / "django.mo"]
    assert catalogue_compile(locale_dirs=[tmp_path]) == []  # up to date: nothing to do
    compiled = {(e.msgctxt, e.msgid): e.msgstr for e in polib.mofile(str(target / "django.mo")) if not e.msgid_plural}
    assert compiled == {(e.msgctxt, e.msgid): e.msgstr for e in _entries() if not e.msgid_plural}
    with translation.override("zh-hans"):
        assert translation.gettext("Simplified Chinese") == "简体中文"
        assert str(AuditAction.LOGIN.label) == "登录"
    with translation.override("en"):
        assert str(AuditAction.LOGIN.label) == "Login"


# --- The admin -------------------------------------------------------------------------------------------------------


@pytest.fixture
def admin_user(db):
    return UserFactory(username="i18n-admin", role="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _page(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_the_admin_is_in_english_by_default(admin_client) -> None:
    index = _page(admin_client.get(reverse("admin:index")))
    assert 'lang="en"' in index
    assert "Security" in index and "安全" not in index
    changelist = _page(admin_client.get(reverse("admin:core_apikey_changelist")))
    assert "API keys" in changelist and "API 密钥" not in changelist


def test_the_admin_follows_accept_language(admin_client) -> None:
    index = _page(admin_client.get(reverse("admin:index"), **ZH))
    assert 'lang="zh-hans"' in index
    assert "安全" in index  # the app's name
    changelist = _page(admin_client.get(reverse("admin:core_auditlog_changelist"), **ZH))
    assert "审计日志" in changelist  # the model's name
    assert "操作" in changelist  # a list header (a field's verbose name)


def test_a_saved_preference_wins_over_accept_language_in_the_admin(admin_client, admin_user) -> None:
    user_language_set(user=admin_user, language="zh-hans")
    assert "安全" in _page(admin_client.get(reverse("admin:index")))
    assert "安全" in _page(admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en"))
    user_language_set(user=admin_user, language="")  # blank: Accept-Language again
    assert "安全" not in _page(admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en"))
    assert "安全" in _page(admin_client.get(reverse("admin:index"), **ZH))


def test_the_admin_switcher_saves_the_preference(admin_client, admin_user) -> None:
    index = _page(admin_client.get(reverse("admin:index")))
    assert f'action="{reverse("set_language")}"' in index  # Unfold shows the switcher
    response = admin_client.post(reverse("set_language"), {"language": "zh-hans", "next": reverse("admin:index")})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    assert UserPreference.objects.get(user=admin_user).language == "zh-hans"
    assert "安全" in _page(admin_client.get(reverse("admin:index")))


# --- The API ---------------------------------------------------------------------------------------------------------


def test_api_errors_are_in_english_by_default(role_client) -> None:
    response = role_client("admin").get("/api/v1/core/users/999999/")
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "Not found.", "details": None}


def test_api_errors_follow_accept_language(role_client) -> None:
    client = role_client("admin")
    response = client.get("/api/v1/core/users/999999/", **ZH)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"  # codes stay machine-readable
    assert response.json()["error"]["message"] == "未找到。"
    invalid = client.post("/api/v1/core/api-keys/", {}, format="json", **ZH)
    assert invalid.status_code == 400
    assert invalid.json()["error"]["details"]["name"] == ["该字段是必填项。"]
    assert response["Content-Language"] == "zh-hans"


def test_a_token_users_preference_wins_over_accept_language(role_users, client_for) -> None:
    """JWT callers are authenticated inside DRF: their preference is switched on there, before permissions."""
    user = role_users["guest"]
    user_language_set(user=user, language="zh-hans")
    client = client_for(user)
    refused = client.get("/api/v1/core/users/", HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "您没有执行该操作的权限。"
    roles = client.get("/api/v1/core/roles/").json()
    guest = next(r for r in roles if r["name"] == "guest")
    assert guest["description"] == "只读访问 ERP、知识库、行情数据与趋势"


def test_the_language_preference_endpoint(role_users, client_for, api_client) -> None:
    user = role_users["user"]
    client = client_for(user)
    url = reverse("core-api:me-language")
    assert client.get(url).json() == {"language": "", "active": "en"}
    assert client.get(url, **ZH).json() == {"language": "", "active": "zh-hans"}

    changed = client.patch(url, {"language": "zh-hans"}, format="json")
    assert changed.status_code == 200
    assert changed.json() == {"language": "zh-hans", "active": "zh-hans"}
    assert client.get(url, HTTP_ACCEPT_LANGUAGE="en").json() == {"language": "zh-hans", "active": "zh-hans"}
    entry = AuditLog.objects.get(target_type="core.userpreference", action=AuditAction.UPDATE)
    assert entry.actor == user and entry.changes["language"] == ["", "zh-hans"]

    bad = client.put(url, {"language": "fr"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid"
    assert "language" in bad.json()["error"]["details"]
    assert client.put(url, {"language": ""}, format="json").json() == {"language": "", "active": "en"}
    assert api_client.get(url).status_code == 401


def test_an_unknown_language_is_refused_by_the_service(db) -> None:
    from apps.core.exceptions import ValidationFailed

    user = UserFactory()
    with pytest.raises(ValidationFailed) as raised:
        user_language_set(user=user, language="fr")
    assert raised.value.code == "invalid_language"
    assert not UserPreference.objects.filter(user=user).exists()


# --- Messages of the platform and the chat centre --------------------------------------------------------------------


def test_an_unknown_api_path_is_refused_in_the_requested_language(client) -> None:
    english = client.get("/api/v1/no-such-endpoint/")
    chinese = client.get("/api/v1/no-such-endpoint/", **ZH)
    assert english.status_code == chinese.status_code == 404
    assert english.json()["error"]["message"] == "No endpoint at /api/v1/no-such-endpoint/."
    assert chinese.json()["error"] == {
        "code": "not_found",
        "message": "/api/v1/no-such-endpoint/ 处没有端点。",
        "details": None,
    }


def test_the_openai_compatible_errors_keep_their_shape_in_chinese(client) -> None:
    english = client.get("/v1/no-such-endpoint")
    chinese = client.get("/v1/no-such-endpoint", **ZH)
    assert english.status_code == chinese.status_code == 404
    assert set(chinese.json()) == {"error"}
    assert set(chinese.json()["error"]) == set(english.json()["error"]) == {"message", "type", "code", "param"}
    assert chinese.json()["error"]["code"] == english.json()["error"]["code"] == "not_found"
    assert "没有端点" in chinese.json()["error"]["message"]


def test_service_refusals_are_translated_and_keep_their_code(db) -> None:
    from apps.core.exceptions import ValidationFailed
    from apps.core.services import api_key_create

    user = UserFactory()
    with translation.override("zh-hans"), pytest.raises(ValidationFailed) as raised:
        api_key_create(owner=user, name=" ")
    assert raised.value.message == "API 密钥需要名称。"
    assert raised.value.details == {"name": ["该字段是必填项。"]}
    assert raised.value.code == "invalid"
    with pytest.raises(ValidationFailed) as raised:
        api_key_create(owner=user, name="")
    assert raised.value.message == "An API key needs a name."


def test_the_chat_centre_is_named_in_chinese_in_the_admin(admin_client) -> None:
    assert "对话中心" in _page(admin_client.get(reverse("admin:index"), **ZH))
    add = _page(admin_client.get(reverse("admin:chat_provider_add"), **ZH))
    assert "提供方" in add  # the model's name
    assert "基础 URL" in add and "允许私有网络" in add  # field labels
