"""Every user-facing string is translated into the five languages, and no catalogue is stale."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
LANGUAGES = {"zh_Hans", "ru", "kk", "mn"}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")


def catalogues():
    for locale_path in settings.LOCALE_PATHS:
        yield from sorted(Path(locale_path).glob("*/LC_MESSAGES/django.po"))


def test_every_language_has_a_catalogue():
    assert {po.parts[-3] for po in Path(ROOT / "locale").glob("*/LC_MESSAGES/django.po")} == LANGUAGES


@pytest.mark.parametrize("po_path", list(catalogues()), ids=lambda p: str(p.relative_to(ROOT)))
def test_catalogue_is_complete_with_no_fuzzy_entry(po_path):
    po = polib.pofile(str(po_path))
    assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []
    assert not po.metadata_is_fuzzy
    for entry in po.translated_entries():
        wanted = sorted(PLACEHOLDER.findall(entry.msgid))
        translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for text in translations:
            got = sorted(PLACEHOLDER.findall(text))
            # A plural form may leave out the number ("one" in some languages).
            assert set(got) <= set(wanted + PLACEHOLDER.findall(entry.msgid_plural or "")), (
                entry.msgid,
                text,
            )
            if not entry.msgid_plural:
                assert got == wanted, (entry.msgid, text)


@pytest.mark.skipif(
    shutil.which("xgettext") is None, reason="needs GNU gettext (xgettext) to extract strings"
)
def test_catalogues_hold_every_string_of_the_code(tmp_path):
    """makemessages on a copy of the tree finds no string the catalogues lack."""
    for name in ("portal", "declarations", "bookings", "notifications", "templates", "locale", "manage.py"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
        else:
            shutil.copy(source, tmp_path / name)
    shutil.copytree(ROOT / "tests", tmp_path / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "ru", "--no-location", "--ignore=tests"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": str(tmp_path),
        },
    )
    fresh = {
        (e.msgctxt, e.msgid)
        for e in polib.pofile(str(tmp_path / "locale/ru/LC_MESSAGES/django.po"))
        if not e.obsolete
    }
    committed = {
        (e.msgctxt, e.msgid)
        for e in polib.pofile(str(ROOT / "locale/ru/LC_MESSAGES/django.po"))
        if not e.obsolete
    }
    assert sorted(fresh - committed, key=str) == [], "run makemessages and translate the new strings"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "word"),
    [("kk", "Тіркелу"), ("ru", "Регистрация"), ("mn", "Бүртгүүлэх"), ("zh-hans", "注册")],
)
def test_sign_up_page_speaks_each_language(client, language, word):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    html = client.get("/accounts/signup/").content.decode()
    assert f'<html lang="{language}">' in html
    assert word in html
