"""Small pure functions: phone parsing, plates, registration numbers, env parsing."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_int
from portal.phones import PhoneField, parse_phone
from portal.plates import plate_normalise
from portal.registration import kz_bin_validate, registration_number_clean


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("8 701 123 45 67", "KZ", "+77011234567"),
        ("+7 (701) 123-45-67", None, "+77011234567"),
        ("0077011234567", "CN", "+77011234567"),
        ("138 0013 8000", "CN", "+8613800138000"),
        ("+86 138-0013-8000", "KZ", "+8613800138000"),
        ("9911 2233", "MN", "+97699112233"),
        ("0300 1234567", "PK", "+923001234567"),
    ],
)
def test_numbers_typed_as_people_type_them_are_normalised(raw, region, e164):
    assert parse_phone(raw, region).as_e164 == e164


@pytest.mark.parametrize("raw", ["", "12", "hello", "+7 701", "8 701 123 45 67 89 00"])
def test_malformed_numbers_are_refused(raw):
    assert parse_phone(raw, "KZ") is None


def test_phone_field_takes_country_and_number():
    field = PhoneField(required=True)
    assert field.clean(["CN", "138 0013 8000"]) == "+8613800138000"
    with pytest.raises(Exception, match="valid phone number"):
        field.clean(["CN", "0000"])


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [("123 ABA 01", "123ABA01"), ("а 123 вс", "A123BC"), ("A-123-BC", "A123BC"), ("新F 12345", "新F12345")],
)
def test_plates_compare_without_spaces_case_or_cyrillic_lookalikes(typed, normalised):
    assert plate_normalise(typed) == normalised


def test_kazakh_bin_check_digit():
    assert kz_bin_validate("040840000550") == "040840000550"
    for bad in ("040840000551", "04084000055", "041340000550", "04084000055X"):
        with pytest.raises(ValueError):
            kz_bin_validate(bad)


def test_registration_numbers_by_country():
    assert registration_number_clean("CN", "91110000600037341L") == "91110000600037341L"
    with pytest.raises(ValueError):
        registration_number_clean("CN", "91110000600037341X")
    assert registration_number_clean("MN", " 5123 456 ") == "5123456"
    with pytest.raises(ValueError):
        registration_number_clean("MN", "<script>")


def test_env_parsing_is_strict(monkeypatch):
    monkeypatch.setenv("X_BOOL", "ture")
    with pytest.raises(ImproperlyConfigured):
        env_bool("X_BOOL", False)
    monkeypatch.setenv("X_BOOL", "Yes")
    assert env_bool("X_BOOL", False) is True
    monkeypatch.setenv("X_INT", "12a")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_INT", 1)


def test_country_picker_starts_on_the_country_of_the_language(client, db):
    from django.conf import settings

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    html = client.get("/accounts/signup/").content.decode()
    assert '<option value="CN" selected>' in html
