from __future__ import annotations

from typing import Any

import factory

from medbroker.accounts.models import Organisation, RoleAssignment, User

TEST_PASSWORD = "correct-horse-battery-42"


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    kind = Organisation.Kind.COMPANY
    name = factory.Sequence(lambda n: f"테스트기업{n}")
    address = "대구광역시 동구 첨단로 1"
    contact_name = "홍길동"
    contact_email = factory.Sequence(lambda n: f"contact{n}@example.com")
    contact_phone = "053-000-0000"


class LabFactory(OrganisationFactory):
    kind = Organisation.Kind.LAB
    name = "한국산업기술시험원"


class InstitutionOrganisationFactory(OrganisationFactory):
    kind = Organisation.Kind.INSTITUTION
    name = factory.Sequence(lambda n: f"테스트병원{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    display_name = factory.Sequence(lambda n: f"사용자{n}")
    organisation = factory.SubFactory(OrganisationFactory)
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def roles(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            self.save()
        if not create or not extracted:
            return
        for role in extracted:
            RoleAssignment.objects.create(user=self, role=role)
        self.__dict__.pop("_role_codes", None)
