"""schemathesis against /api/schema/, as each role and anonymous: every check, generated and stateful.

Generic over the schema: every operation it lists is fuzzed, so endpoints added later are covered without
touching this file. `make test` runs a few examples with a new seed each run (printed, and given back with
FUZZ_SEED=...); `make fuzz` runs many more (FUZZ_EXAMPLES, FUZZ_STEPS). What each check expects where the
schema cannot say it is in schemathesis.toml, shared with `schemathesis run` against a running server.
"""

from __future__ import annotations

import os
import random

import pytest
import schemathesis
from django.conf import settings as django_settings
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import ignored_auth

from fleet import seeding
from tests.apiclients import ROLES, wsgi_app

#: Transactional: the WSGI app closes connections. Serialized rollback: the roles' groups (data migrations)
#: are back even after an earlier transactional test flushed them.
pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

#: Per role and mode (positive, negative): `make test` draws SAMPLE cases from the whole schema (a new
#: seed each run picks other operations); `make fuzz` sets EXAMPLES, cases per operation. Then the
#: stateful phase: STATEFUL scenarios of up to STEPS calls following the schema's links.
SAMPLE = int(os.environ.get("FUZZ_SAMPLE", "25"))
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))
STATEFUL = int(os.environ.get("FUZZ_STATEFUL", "1"))
STEPS = int(os.environ.get("FUZZ_STEPS", "6"))
#: A new seed each run, so runs together cover more; a failure prints it (FUZZ_SEED=... replays it).
SEED = int(os.environ.get("FUZZ_SEED") or random.randrange(2**32))

#: /api/health answers 503 by design when a component (here: no Celery worker) is down; tested elsewhere.
NOT_FUZZED = ("/api/health",)


@schemathesis.check
def errors_have_the_standard_shape(ctx, response, case) -> None:
    if response.status_code < 400:
        return
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not {"code", "message", "details"} <= set(error):
        raise AssertionError(f"{response.status_code} without the error shape: {response.text[:200]}")


def load_schema(*, anonymous_reads: bool, token: str | None):
    """The schema as the running configuration generates it, with the project's schemathesis.toml and the
    role's token as the `tokenAuth` scheme (so `ignored_auth` knows which scheme the client uses)."""
    django_settings.API_ALLOW_ANONYMOUS_READ = anonymous_reads
    text = (django_settings.BASE_DIR / "schemathesis.toml").read_text()
    if token is not None:
        text += f'\n[auth.openapi.tokenAuth]\napi_key = "Token {token}"\n'
    config = SchemathesisConfig.from_str(text)
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app(), config=config)
    return schema.exclude(path_regex="^(" + "|".join(NOT_FUZZED) + ")")


def role_token(role: str) -> str | None:
    user = ROLES[role]()
    return None if user is None else Token.objects.create(user=user).key


@pytest.fixture(scope="module", autouse=True)
def _tables_empty_for_the_serialized_rollback(django_db_setup, django_db_blocker):
    """serialized_rollback loads the database as the migrations left it (role groups and their permissions,
    alarm rules) into empty tables. A transactional test of another module may have ended with a flush that
    ran post_migrate, which re-creates content types and permissions: empty them first, as Django's own
    serialized tests do between themselves."""
    from django.core.management import call_command

    with django_db_blocker.unblock():
        call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)


@pytest.fixture
def demo_site(transactional_db, settings):
    settings.API_ALLOW_ANONYMOUS_READ = False  # restored after the test (load_schema sets it per role)
    return seeding.seed_site(name="Fuzz pit", trucks=2, crushers=1, stockpiles=1, loaders=2)


def fuzz(schema, excluded: list) -> int:
    """Every operation with generated positive and negative input, then the stateful phase (links between
    operations); returns the number of cases sent."""
    sent = 0
    options = {
        "deadline": None,
        "suppress_health_check": list(HealthCheck),
        "database": None,
        "phases": [Phase.explicit, Phase.generate],
    }
    strategies = [(schema, SAMPLE)]
    if EXAMPLES:
        strategies = [(result.ok(), EXAMPLES) for result in schema.get_all_operations()]
    for source, examples in strategies:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @seed(SEED)
            @settings(max_examples=examples, **options)
            @given(case=source.as_strategy(generation_mode=mode))
            def holds(case) -> None:
                nonlocal sent
                sent += 1
                case.call_and_validate(
                    excluded_checks=excluded, additional_checks=[errors_have_the_standard_shape]
                )

            try:
                holds()
            except Unsatisfiable:
                if mode is GenerationMode.POSITIVE:
                    raise
                # nothing to break: no parameter or body that a value could violate

    # A stateful failure is collected, not raised: hypothesis would replay the scenario to report it, and
    # the replay meets another database (ids created by the first run), which it reports as a flaky strategy
    # instead of the failure itself.
    failures: list[str] = []

    class Stateful(schema.as_state_machine()):
        def validate_response(self, response, case, additional_checks=None, **kwargs):
            nonlocal sent
            sent += 1
            try:
                case.validate_response(
                    response,
                    additional_checks=[errors_have_the_standard_shape],
                    excluded_checks=excluded,
                    transport_kwargs=kwargs,
                )
            except (AssertionError, ExceptionGroup) as failure:
                failures.append(f"{case.method} {case.formatted_path}: {failure}")

    seed(SEED)(Stateful)  # run_state_machine_as_test reads the seed from the class
    Stateful.run(settings=settings(max_examples=STATEFUL, stateful_step_count=STEPS, **options))
    assert not failures, "\n\n".join(failures[:5])
    return sent


@pytest.mark.parametrize("role", ["viewer", "operator", "engineer", "gateway"])
def test_the_api_holds_its_contract_for_each_role(role, demo_site, capsys):
    """Signed in, with anonymous reads off: every check, `ignored_auth` included (a request without the
    token must be refused)."""
    sent = fuzz(load_schema(anonymous_reads=False, token=role_token(role)), excluded=[])
    with capsys.disabled():
        print(f"\nfuzz {role}: seed {SEED}, {sent} cases (FUZZ_SEED={SEED} replays it)")


def test_the_api_holds_its_contract_for_anonymous_clients_of_the_demo(demo_site, capsys):
    """Anonymous, as `make run` configures it (API_ALLOW_ANONYMOUS_READ=true): reads served, writes 401.
    `ignored_auth` is left out: serving reads without credentials is what that configuration intends."""
    sent = fuzz(load_schema(anonymous_reads=True, token=None), excluded=[ignored_auth])
    with capsys.disabled():
        print(f"\nfuzz anonymous: seed {SEED}, {sent} cases (FUZZ_SEED={SEED} replays it)")
