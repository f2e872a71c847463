import factory
from django.contrib.auth.models import Group

from portal.models import Driver, FirmDriver, Membership, Organisation, Port, Role, User, Vehicle
from portal.plates import plate_normalise
from portal.registration import kz_bin_check_digit

PASSWORD = "correct-horse-battery"


def valid_bin(n: int) -> str:
    """A valid Kazakh BIN: registered in April 2008 as a resident legal entity."""
    for serial in range(n * 10, n * 10 + 10):
        first11 = f"080440{serial:05d}"
        digit = kz_bin_check_digit(first11)
        if digit is not None:
            return first11 + str(digit)
    raise AssertionError("no BIN")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    phone = factory.Sequence(lambda n: f"+7701{n:07d}")
    phone_verified = True
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    display_name = factory.Faker("name")
    language = "en"

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Firm {n}")
    kind = Organisation.Kind.LOGISTICS
    country = "KZ"
    registration_number = factory.Sequence(valid_bin)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organisation = factory.SubFactory(OrganisationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ADMIN


class DriverFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Driver

    user = factory.SubFactory(UserFactory, email=None)
    licence_number = factory.Sequence(lambda n: f"DL{n:06d}")
    id_document_number = factory.Sequence(lambda n: f"N{n:08d}")
    nationality = "KZ"


class FirmDriverFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FirmDriver

    organisation = factory.SubFactory(OrganisationFactory)
    driver = factory.SubFactory(DriverFactory)


class VehicleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vehicle

    organisation = factory.SubFactory(OrganisationFactory)
    plate = factory.Sequence(lambda n: f"{n:03d} ABC 01")
    plate_normalised = factory.LazyAttribute(lambda o: plate_normalise(o.plate))
    country = "KZ"
    kind = Vehicle.Kind.TRACTOR


def officer(role: str, port_codes: list[str]) -> User:
    user = UserFactory(is_staff=True, phone=None)
    user.groups.add(Group.objects.get(name=role))
    user.ports.add(*Port.objects.filter(code__in=port_codes))
    return user
