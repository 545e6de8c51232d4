"""Publishing under stress, on a database whose writes are committed: two reviewers at once,
a process killed mid-publish, and the CLI acting as a named user."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from accounts.models import User
from geo.coords import CRS
from geo.models import Site
from geo.settings import get_settings
from stewardship import service
from stewardship.errors import ChangeSetConflict
from stewardship.models import ChangeSet, ChangeSetStatus
from stewardship.report import Entity
from tests.stewardship.conftest import LIXIA_POINT, People, make_people, new_site, site_csv
from web.cli import app


@pytest.fixture(scope="module")
def engine(committed_db: str) -> Iterator[Engine]:
    engine = create_engine(committed_db)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def people(engine: Engine) -> People:
    with Session(engine, expire_on_commit=False) as session:
        people = make_people(session)
        session.commit()
    return people


def _draft(engine: Engine, people: People, names: list[str]) -> int:
    rows = [
        new_site(name, (LIXIA_POINT[0] + i * 0.0012, LIXIA_POINT[1] + i * 0.0007))
        for i, name in enumerate(names)
    ]
    with Session(engine) as session:
        maintainer = session.get(User, people.maintainer.id)
        _, change_set = service.upload(
            session,
            maintainer,
            file_name="sites.csv",
            data=site_csv(rows),
            entity=Entity.sites,
            crs=CRS.wgs84,
        )
        assert change_set is not None
        session.commit()
        return change_set.id


def _count_sites(engine: Engine, prefix: str) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).where(Site.name.like(f"{prefix}%"))) or 0)


def test_two_reviewers_approving_at_once_exactly_one_publishes(
    engine: Engine, people: People
) -> None:
    change_set_id = _draft(engine, people, ["并发审核中心甲", "并发审核中心乙"])
    start = threading.Barrier(2)

    def approve(reviewer_id: int) -> str:
        with Session(engine) as session:
            reviewer = session.get(User, reviewer_id)
            start.wait()
            try:
                publication = service.approve(session, change_set_id, reviewer)
                session.commit()
                return f"published {publication.version}"
            except ChangeSetConflict as conflict:
                session.rollback()
                return f"conflict {conflict.message}"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(approve, [people.reviewer.id, people.reviewer_lixia.id]))
    assert sorted(o.split()[0] for o in outcomes) == ["conflict", "published"], outcomes
    assert any("already decided" in o for o in outcomes)
    assert _count_sites(engine, "并发审核中心") == 2  # published once, not twice


def test_a_process_killed_mid_publish_leaves_the_previous_version_intact(
    engine: Engine, people: People, committed_db: str
) -> None:
    names = [f"崩溃测试中心{i:02d}" for i in range(30)]
    change_set_id = _draft(engine, people, names)
    with Session(engine) as session:
        version_before = service.current_version(session)
    script = f"""
import os, signal
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from accounts.models import User
from stewardship import service

applied = 0
apply_change = service._apply_change

def apply_then_die(*args, **kwargs):
    global applied
    applied += 1
    if applied == 15:  # half-way through the change set: the process dies, no cleanup
        os.kill(os.getpid(), signal.SIGKILL)
    return apply_change(*args, **kwargs)

service._apply_change = apply_then_die
with Session(create_engine({committed_db!r})) as session:
    service.approve(session, {change_set_id}, session.get(User, {people.reviewer.id}))
    session.commit()
"""
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr.decode()

    with Session(engine) as session:
        assert service.current_version(session) == version_before
        assert session.get(ChangeSet, change_set_id).status == ChangeSetStatus.draft  # type: ignore[union-attr]
    assert _count_sites(engine, "崩溃测试中心") == 0  # not one of the 14 applied rows remains

    with Session(engine) as session:  # and the change set can still be published whole
        publication = service.approve(session, change_set_id, session.get(User, people.reviewer.id))  # type: ignore[arg-type]
        session.commit()
        assert publication.version == version_before + 1
    assert _count_sites(engine, "崩溃测试中心") == 30


@pytest.fixture
def on_committed_db(committed_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DAOFU_DATABASE_URL", committed_db)
    get_settings.cache_clear()
    yield committed_db
    monkeypatch.delenv("DAOFU_DATABASE_URL")
    get_settings.cache_clear()


def test_the_cli_uploads_reviews_and_exports_as_a_named_user_within_its_scope(
    on_committed_db: str, people: People, tmp_path: Path, engine: Engine
) -> None:
    runner = CliRunner()
    good = tmp_path / "good.csv"
    good.write_bytes(site_csv([new_site("命令行上传中心")]))
    outside = tmp_path / "outside.csv"
    outside.write_bytes(
        site_csv([new_site("命令行越界中心", (116.8807899, 36.6804167), 区划代码="370104000000")])
    )

    refused = runner.invoke(app, ["sites", "upload", str(outside), "--user", "maint_lixia"])
    assert refused.exit_code == 1
    assert "第 2 行" in refused.output and "370102000000" in refused.output

    uploaded = runner.invoke(app, ["sites", "upload", str(good), "--user", "maint_lixia"])
    assert uploaded.exit_code == 0, uploaded.output
    with Session(engine) as session:
        change_set_id = session.scalar(select(func.max(ChangeSet.id)))
    own = runner.invoke(app, ["sites", "approve", str(change_set_id), "--user", "maint_lixia"])
    assert own.exit_code == 1  # a maintainer does not review
    approved = runner.invoke(app, ["sites", "approve", str(change_set_id), "--user", "reviewer1"])
    assert approved.exit_code == 0 and "version" in approved.output

    exported = tmp_path / "sites.csv"
    result = runner.invoke(app, ["sites", "export", str(exported), "--crs", "gcj02"])
    assert result.exit_code == 0, result.output
    assert "命令行上传中心" in exported.read_text(encoding="utf-8-sig")
    versions = runner.invoke(app, ["sites", "versions"])
    assert "change set" in versions.output
