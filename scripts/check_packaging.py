#!/usr/bin/env python3
"""Build the sdist and the wheel, inspect them, and install the wheel into a new project.

Run from the repository root: ``python scripts/check_packaging.py`` (``build``
and ``twine`` must be importable; ``tox -e packaging`` provides them). Every
check runs and reports; the exit status is 1 if any failed. Only the standard
library is used here, so the script runs in any environment that can build.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "fiko_billing"

# Variables of the calling shell that would change what the host project sees.
HOST_ENV_PREFIXES = ("STRIPE_", "FIKO_", "DJANGO_")
HOST_ENV_NAMES = frozenset({"DATABASE_URL", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"})

failures: list[str] = []


def step(message: str) -> None:
    print(f"\n== {message}", flush=True)


def ok(message: str) -> None:
    print(f"   ok: {message}", flush=True)


def fail(message: str) -> None:
    print(f"   FAIL: {message}", flush=True)
    failures.append(message)


def run(
    args: Sequence[str | Path],
    *,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    shown = " ".join(str(a) for a in args)
    print(f"   $ {shown}", flush=True)
    started = time.monotonic()
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    print(f"     (exit {result.returncode}, {time.monotonic() - started:.1f}s)", flush=True)
    if check and result.returncode != 0:
        print(indent(result.stdout), flush=True)
        raise SystemExit(f"FAIL: {shown} exited {result.returncode}")
    return result


def indent(text: str) -> str:
    return "\n".join(f"     | {line}" for line in text.rstrip().splitlines())


def host_environment(**extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in HOST_ENV_NAMES and not name.startswith(HOST_ENV_PREFIXES)
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def source_files(directory: Path) -> set[str]:
    """Files under ``directory`` as ``posix/paths`` relative to the repository root."""
    found = set()
    for path in directory.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if path.is_file() and "__pycache__" not in parts and path.suffix not in {".pyc", ".pyo"}:
            found.add(PurePosixPath(*parts).as_posix())
    return found


def expect_present(kind: str, names: set[str], required: Iterable[str], what: str = "") -> None:
    required = sorted(set(required))
    missing = [name for name in required if name not in names]
    if missing:
        fail(f"{kind} lacks {', '.join(missing)}")
    elif what:
        ok(f"{kind} has all {len(required)} {what}")
    else:
        ok(f"{kind} has {', '.join(required)}")


def expect_some(kind: str, names: set[str], prefix: str, what: str) -> None:
    matching = sorted(n for n in names if n.startswith(prefix))
    if matching:
        ok(f"{kind} has {len(matching)} {what} under {prefix}")
    else:
        fail(f"{kind} has no {what} under {prefix}")


def expect_absent(kind: str, names: set[str], prefixes: Sequence[str]) -> None:
    unwanted = sorted(n for n in names if n.startswith(tuple(prefixes)))
    if unwanted:
        shown = ", ".join(unwanted[:5]) + (" ..." if len(unwanted) > 5 else "")
        fail(f"{kind} must not contain {', '.join(prefixes)}: {shown}")
    else:
        ok(f"{kind} contains none of {', '.join(prefixes)}")


def catalogues() -> tuple[set[str], set[str]]:
    """The translation sources in the tree (``.pot``, ``.po``) and the ``.mo`` a wheel needs."""
    locale = ROOT / PACKAGE / "locale"
    sources = {n for n in source_files(locale) if n.endswith((".po", ".pot"))}
    compiled = {n[: -len(".po")] + ".mo" for n in sources if n.endswith(".po")}
    return sources, compiled


def package_data() -> tuple[set[str], set[str], set[str]]:
    """Every source file of the package, its migrations and its templates, from the tree.

    Compiled catalogues (``.mo``) are build outputs, left out here even when a
    development install compiled them into the tree.
    """
    package = {n for n in source_files(ROOT / PACKAGE) if not n.endswith(".mo")}
    migrations = {n for n in package if n.startswith(f"{PACKAGE}/migrations/")}
    templates = {n for n in package if "/templates/" in n}
    return package, migrations, templates


def check_sdist(sdist: Path) -> None:
    step(f"sdist contents: {sdist.name}")
    with tarfile.open(sdist) as archive:
        members = [m.name for m in archive.getmembers() if m.isfile()]
    top = members[0].split("/", 1)[0]
    names = {m.split("/", 1)[1] for m in members if "/" in m}
    package, migrations, templates = package_data()

    expect_present(
        "sdist",
        names,
        ["pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", f"{PACKAGE}/py.typed"],
    )
    expect_present("sdist", names, package, f"files of {PACKAGE}/")
    sources, _compiled = catalogues()
    expect_present("sdist", names, sources, "translation catalogues (.pot, .po)")
    if not any(n.endswith(".pot") for n in sources):
        fail(f"no catalogue template (.pot) under {PACKAGE}/locale/")
    expect_present("sdist", names, ["hatch_build.py", "scripts/messages.py"], "")
    built = sorted(n for n in names if n.endswith(".mo"))
    if built:
        fail(f"sdist contains compiled catalogues (build outputs): {', '.join(built)}")
    else:
        ok("sdist contains no compiled catalogue (.mo)")
    expect_some("sdist", names, f"{PACKAGE}/migrations/0001", "migration")
    if templates:
        ok(f"sdist has {len(templates)} template(s)")
    else:
        fail(f"no template under {PACKAGE}/**/templates/ in the source tree or the sdist")
    expect_some("sdist", names, "docs/", "documentation file(s)")
    expect_present("sdist", names, ["docs/conf.py"])
    expect_absent("sdist", names, ["docs/_build/", ".venv/", ".git/", ".tox/", "dist/"])
    cached = sorted(n for n in names if "__pycache__" in n or n.endswith(".pyc"))
    if cached:
        fail(f"sdist contains compiled files: {', '.join(cached[:5])}")
    print(f"   ({len(names)} files under {top}/; {len(migrations)} migration file(s))")


def check_wheel(wheel: Path) -> None:
    step(f"wheel contents: {wheel.name}")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(metadata_name).decode()
    package, migrations, templates = package_data()

    expect_present("wheel", names, [f"{PACKAGE}/py.typed", f"{PACKAGE}/__init__.py"])
    expect_present("wheel", names, migrations, "migration files")
    expect_present("wheel", names, templates, "templates")
    # Anything in the package directory (JSON, templates, static files) must ship.
    expect_present("wheel", names, package, f"files of {PACKAGE}/")
    _sources, compiled = catalogues()
    if compiled:
        expect_present("wheel", names, compiled, "compiled catalogues (.mo)")
    else:
        fail(f"no translation (.po) under {PACKAGE}/locale/ to compile into the wheel")
    expect_absent("wheel", names, ["tests/", "docs/", "example_project/", "benchmarks/"])
    top_level = sorted(
        {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    )
    if top_level == [PACKAGE]:
        ok(f"wheel installs only {PACKAGE}/")
    else:
        fail(f"wheel installs more than {PACKAGE}/: {', '.join(top_level)}")
    for line in ("Requires-Python: >=3.11", "Requires-Dist: django", "Requires-Dist: stripe"):
        if line.lower() in metadata.lower():
            ok(f"METADATA has {line!r}")
        else:
            fail(f"METADATA lacks {line!r}")


def check_install(wheel: Path, workdir: Path) -> None:
    step("install the wheel into a new virtualenv and a new Django project")
    venv = workdir / "venv"
    run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    env = host_environment()
    run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel],
        cwd=workdir,
        env=env,
    )
    located = run(
        [python, "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"], cwd=workdir, env=env
    ).stdout.strip()
    if located.startswith(str(venv)):
        ok(f"{PACKAGE} imports from the new virtualenv")
    else:
        fail(f"{PACKAGE} was imported from {located}, not from the new virtualenv")

    run([venv / "bin" / "django-admin", "startproject", "host"], cwd=workdir, env=env)
    project = workdir / "host"
    settings = project / "host" / "settings.py"
    with settings.open("a") as handle:
        handle.write('\nINSTALLED_APPS += ["fiko_billing"]\n')

    def manage(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        # Names only: even dummy key values stay out of the log.
        print(f"   with {', '.join(sorted(extra))} set", flush=True)
        return run(
            [python, "manage.py", *args], cwd=project, env=host_environment(**extra), check=False
        )

    # Installed but not configured yet: billing switched off.
    for command in (["check"], ["migrate", "--noinput"]):
        result = manage(*command, STRIPE_ENABLED="false")
        if result.returncode == 0:
            ok(f"manage.py {' '.join(command)} succeeds with STRIPE_ENABLED=false")
        else:
            fail(f"manage.py {' '.join(command)} failed:\n{indent(result.stdout)}")
    result = manage("showmigrations", PACKAGE, STRIPE_ENABLED="false")
    if "[X] 0001_initial" in result.stdout:
        ok(f"{PACKAGE}.0001_initial is applied")
    else:
        fail(f"{PACKAGE} migrations are not applied:\n{indent(result.stdout)}")

    # The compiled German catalogue ships in the wheel and Django finds it.
    result = manage(
        "shell",
        "-c",
        "from django.utils import translation; translation.activate('de'); "
        "print(translation.gettext('Billing is not enabled.'))",
        STRIPE_ENABLED="false",
    )
    if result.returncode == 0 and "Die Abrechnung ist nicht aktiviert." in result.stdout:
        ok("the installed package translates into German")
    else:
        fail(
            f"the German catalogue was not found in the installed wheel:\n{indent(result.stdout)}"
        )

    # Configured from the environment, as a twelve-factor host would.
    result = manage(
        "check",
        STRIPE_ENABLED="true",
        STRIPE_SECRET_KEY="sk_test_packaging",  # noqa: S106 - a dummy, never sent
        STRIPE_PUBLISHABLE_KEY="pk_test_packaging",
        STRIPE_WEBHOOK_SECRET="whsec_packaging",  # noqa: S106 - a dummy
    )
    if result.returncode == 0:
        ok("manage.py check succeeds with test keys in the environment")
    else:
        fail(f"manage.py check failed with test keys in the environment:\n{indent(result.stdout)}")

    # Enabled without a secret key: the system checks must refuse to start.
    with settings.open("a") as handle:
        handle.write('\nFIKO_BILLING = {"ENABLED": True}\n')
    result = manage("check", STRIPE_ENABLED="true")
    if result.returncode != 0 and "fiko_billing.E001" in result.stdout:
        ok("manage.py check fails with fiko_billing.E001 when enabled without a secret key")
    else:
        fail(
            "manage.py check should fail with fiko_billing.E001 when enabled without "
            f"STRIPE_SECRET_KEY; it exited {result.returncode}:\n{indent(result.stdout)}"
        )


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fiko-packaging-") as tmp:
        workdir = Path(tmp)
        dist = workdir / "dist"

        step("build the sdist, then the wheel from the sdist")
        run([sys.executable, "-m", "build", "--outdir", dist, ROOT])
        sdists = sorted(dist.glob("*.tar.gz"))
        wheels = sorted(dist.glob("*.whl"))
        if len(sdists) != 1 or len(wheels) != 1:
            fail(f"expected one sdist and one wheel, built {[p.name for p in dist.iterdir()]}")
            return 1
        ok(f"built {sdists[0].name} and {wheels[0].name}")

        step("twine check --strict")
        result = run(
            [sys.executable, "-m", "twine", "check", "--strict", *sdists, *wheels], check=False
        )
        print(indent(result.stdout))
        if result.returncode == 0:
            ok("twine accepts both distributions")
        else:
            fail("twine check --strict failed")

        check_sdist(sdists[0])
        check_wheel(wheels[0])
        check_install(wheels[0], workdir)

    step(f"summary ({time.monotonic() - started:.0f}s)")
    if failures:
        for message in failures:
            print(f"   FAIL: {message.splitlines()[0]}")
        return 1
    print("   packaging checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
