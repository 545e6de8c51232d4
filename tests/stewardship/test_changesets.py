"""Upload → draft change set → review → publish as a version → roll back, on real PostGIS."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.errors import Forbidden, OutOfScope
from catalogue.models import SiteItem
from geo.coords import CRS, gcj02_to_wgs84, wgs84_to_gcj02
from geo.models import AuditEntry, Facility, Site, SiteStatus
from stewardship import service
from stewardship.errors import ChangeSetConflict, UploadRejected
from stewardship.models import ChangeSet, ChangeSetStatus, Publication
from stewardship.report import Action, Entity
from tests.stewardship.conftest import (
    HUAIYIN,
    HUAIYIN_POINT,
    JIEFANGLU,
    LIXIA_POINT,
    People,
    new_site,
    site_csv,
)


def _upload(session: Session, user, rows, **kwargs):  # type: ignore[no-untyped-def]
    return service.upload(
        session,
        user,
        file_name="sites.csv",
        data=site_csv(rows),
        entity=kwargs.pop("entity", Entity.sites),
        crs=kwargs.pop("crs", CRS.wgs84),
        **kwargs,
    )


def _published(session: Session, name: str) -> list[Site]:
    return list(
        session.scalars(select(Site).where(Site.name == name, Site.status == SiteStatus.published))
    )


def test_upload_is_a_draft_until_a_reviewer_publishes_it_as_the_next_version(
    session: Session, people: People
) -> None:
    report, change_set = _upload(
        session, people.maintainer, [new_site("历下区示例政务服务中心东厅")]
    )
    assert report.ok and change_set is not None
    assert change_set.status == ChangeSetStatus.draft
    assert _published(session, "历下区示例政务服务中心东厅") == []  # not public before review

    before = service.current_version(session)
    publication = service.approve(session, change_set.id, people.reviewer, "核对无误")
    assert publication.version == before + 1
    assert publication.counts == {"added": 1, "changed": 0, "retired": 0}
    [site] = _published(session, "历下区示例政务服务中心东厅")
    assert site.level.value == "district" and site.region_code == "370102000000"
    # a published district hall handles the district's items, so matching finds it
    links = session.scalar(select(func.count()).where(SiteItem.site_id == site.id))
    assert links and links > 50
    audit = session.scalars(
        select(AuditEntry.action).where(AuditEntry.entity == "change_set")
    ).all()
    assert {"draft", "publish"} <= set(audit)


def test_gcj02_upload_is_stored_as_wgs84(session: Session, people: People) -> None:
    gx, gy = wgs84_to_gcj02(*LIXIA_POINT)
    _, change_set = _upload(
        session,
        people.maintainer,
        [new_site("高德坐标测试中心", (float(gx), float(gy)))],
        crs=CRS.gcj02,
    )
    assert change_set is not None
    service.approve(session, change_set.id, people.reviewer)
    [site] = _published(session, "高德坐标测试中心")
    x = session.scalar(select(func.ST_X(Site.geom)).where(Site.id == site.id))
    y = session.scalar(select(func.ST_Y(Site.geom)).where(Site.id == site.id))
    wx, wy = gcj02_to_wgs84(gx, gy)
    assert abs(x - wx) < 1e-6 and abs(y - wy) < 1e-6
    assert abs(x - LIXIA_POINT[0]) < 1e-5  # and that is where the hall really is


def test_a_file_with_bad_rows_writes_nothing_unless_good_rows_are_accepted(
    session: Session, people: People
) -> None:
    rows = [new_site("好的一行中心"), new_site("坏的一行中心", 经度="abc")]
    change_sets = session.scalar(select(func.count()).select_from(ChangeSet))
    with pytest.raises(UploadRejected) as rejected:
        _upload(session, people.maintainer, rows)
    assert rejected.value.report["bad_rows"] == [3]
    assert session.scalar(select(func.count()).select_from(ChangeSet)) == change_sets

    _, change_set = _upload(session, people.maintainer, rows, accept_good_rows=True)
    assert change_set is not None
    changes = service.changes_of(session, change_set)
    assert [c.after["name"] for c in changes if c.after] == ["好的一行中心"]
    assert change_set.report["bad_rows"] == [3]  # the left-out rows stay on record


def test_dry_run_reports_and_writes_nothing(session: Session, people: People) -> None:
    count = session.scalar(select(func.count()).select_from(ChangeSet))
    report, change_set = _upload(session, people.maintainer, [new_site("试运行中心")], dry_run=True)
    assert report.ok and change_set is None
    assert session.scalar(select(func.count()).select_from(ChangeSet)) == count


def _publish(session: Session, people: People, rows: list[dict[str, object]]) -> int:
    _, change_set = _upload(session, people.maintainer, rows)
    assert change_set is not None
    return service.approve(session, change_set.id, people.reviewer).version


def test_changes_and_retirements_show_a_diff_and_publish(session: Session, people: People) -> None:
    _publish(session, people, [new_site("解放路便民服务中心", 层级="街道级", 区划代码=JIEFANGLU)])
    [site] = _published(session, "解放路便民服务中心")
    _, change_set = _upload(
        session,
        people.maintainer,
        [{"编号": site.id, "电话": "0531-12345678", "办公时间": "Mo-Sa 09:00-17:00"}],
    )
    assert change_set is not None
    [change] = service.changes_of(session, change_set)
    assert change.action == Action.change
    assert service.changed_fields(change.before, change.after) == ["phone", "opening_hours"]
    assert change.after["address"] == change.before["address"]  # blank cells keep the value
    preview = service.preview([change])
    assert preview["features"][0]["properties"]["change"] == "changed"
    service.approve(session, change_set.id, people.reviewer)
    session.refresh(site)
    assert site.phone == "0531-12345678" and site.version == 2

    _, retire = _upload(session, people.maintainer, [{"编号": site.id, "操作": "撤销"}])
    assert retire is not None
    assert (
        service.preview(service.changes_of(session, retire))["features"][0]["properties"]["change"]
        == "retired"
    )
    service.approve(session, retire.id, people.reviewer)
    session.refresh(site)
    assert site.status == SiteStatus.retired


def test_uploading_the_published_state_again_changes_nothing(
    session: Session, people: People
) -> None:
    _publish(session, people, [new_site("不变的中心")])
    [site] = _published(session, "不变的中心")
    with pytest.raises(Exception, match="nothing to change"):
        _upload(session, people.maintainer, [{"编号": site.id, "名称": "不变的中心"}])


def test_a_reviewer_cannot_approve_their_own_change_set_and_a_maintainer_cannot_approve(
    session: Session, people: People
) -> None:
    _, change_set = _upload(session, people.reviewer, [new_site("自审中心")])
    assert change_set is not None
    with pytest.raises(ChangeSetConflict, match="own"):
        service.approve(session, change_set.id, people.reviewer)
    with pytest.raises(Forbidden):
        service.approve(session, change_set.id, people.maintainer)
    service.approve(session, change_set.id, people.reviewer_lixia)
    with pytest.raises(ChangeSetConflict, match="already decided"):
        service.approve(session, change_set.id, people.admin)


def test_a_change_set_drafted_against_an_old_version_is_refused(
    session: Session, people: People
) -> None:
    _publish(session, people, [new_site("冲突测试中心")])
    [site] = _published(session, "冲突测试中心")
    _, first = _upload(session, people.maintainer, [{"编号": site.id, "电话": "0531-1"}])
    _, second = _upload(session, people.maintainer, [{"编号": site.id, "电话": "0531-2"}])
    assert first is not None and second is not None
    service.approve(session, first.id, people.reviewer)
    with pytest.raises(ChangeSetConflict, match=f"#{site.id}"):
        service.approve(session, second.id, people.reviewer)


def test_rollback_restores_an_earlier_version_as_a_new_one(
    session: Session, people: People
) -> None:
    start = service.current_version(session)
    v1 = _publish(session, people, [new_site("回退测试中心", 电话="0531-1")])
    [site] = _published(session, "回退测试中心")
    v2 = _publish(session, people, [{"编号": site.id, "电话": "0531-2"}])
    assert v2 == v1 + 1

    back_to_v1 = service.rollback(session, v1, people.reviewer, "电话填错")
    session.refresh(site)
    assert site.phone == "0531-1" and site.status == SiteStatus.published
    assert back_to_v1.version == v2 + 1 and back_to_v1.restored_version == v1

    service.rollback(session, start, people.reviewer)
    session.refresh(site)
    assert site.status == SiteStatus.retired  # the site did not exist at the start
    versions = [p.version for p in service.list_versions(session)]
    assert versions[:4] == [v2 + 2, v2 + 1, v2, v1]  # every version is kept
    with pytest.raises(Forbidden):
        service.rollback(session, v1, people.maintainer)


def test_scope_is_enforced_on_every_write_path_of_the_service(
    session: Session, people: People
) -> None:
    # upload: a row of another district is a bad row
    with pytest.raises(UploadRejected) as rejected:
        _upload(
            session,
            people.maintainer,
            [new_site("越界中心", HUAIYIN_POINT, 区划代码=HUAIYIN)],
        )
    problems = rejected.value.report["problems"]
    assert any(p["code"] == "outside_scope" and "370102000000" in p["message"] for p in problems)

    _, theirs = _upload(
        session,
        people.maintainer_huaiyin,
        [new_site("槐荫测试中心", HUAIYIN_POINT, 区划代码=HUAIYIN)],
    )
    assert theirs is not None
    service.approve(session, theirs.id, people.reviewer)
    [site] = _published(session, "槐荫测试中心")
    # edits and retirements of a site outside the scope
    for action, values in ((Action.change, {"phone": "0531-9"}), (Action.retire, {})):
        with pytest.raises(OutOfScope, match="370102000000"):
            service.edit(
                session, people.maintainer, Entity.sites, action, values, target_id=site.id
            )
    # a department-scoped maintainer cannot write another department's site
    with pytest.raises(OutOfScope, match="区公安分局"):
        service.edit(session, people.police, Entity.sites, Action.add, _values("派出所外的中心"))
    # a reviewer scoped to 历下 cannot publish or roll back 槐荫's changes
    _, more = _upload(session, people.maintainer_huaiyin, [{"编号": site.id, "电话": "1"}])
    assert more is not None
    with pytest.raises(OutOfScope):
        service.approve(session, more.id, people.reviewer_lixia)
    # an agent reads but never writes
    with pytest.raises(Forbidden):
        _upload(session, people.agent, [new_site("代理人的中心")])


def _values(name: str) -> dict[str, object]:
    return {
        "name": name,
        "level": "district",
        "region_code": "370102000000",
        "department": "区行政审批服务局",
        "lon": LIXIA_POINT[0],
        "lat": LIXIA_POINT[1],
        "opening_hours": "Mo-Fr 09:00-17:00",
    }


def test_facilities_go_through_the_same_loop(session: Session, people: People) -> None:
    facility = session.scalars(
        select(Facility).where(Facility.region_code.like("370102%")).limit(1)
    ).one()
    change_set = service.edit(
        session, people.maintainer, Entity.facilities, Action.retire, {}, target_id=facility.id
    )
    service.approve(session, change_set.id, people.reviewer)
    session.refresh(facility)
    assert facility.status == SiteStatus.retired


# --- over HTTP ---------------------------------------------------------------------------


def test_the_api_uploads_reviews_publishes_and_shows_the_site(
    client: TestClient, session: Session, people: People
) -> None:
    maintainer = people.bearer(session, people.maintainer)
    reviewer = people.bearer(session, people.reviewer)
    files = {"file": ("网点.csv", site_csv([new_site("接口上传中心")], "gb18030"), "text/csv")}
    answer = client.post("/api/uploads", files=files, headers=maintainer)
    assert answer.status_code == 201, answer.text
    change_set = answer.json()["change_set"]
    assert change_set["status"] == "draft" and change_set["counts"]["added"] == 1

    preview = client.get(change_set["links"]["preview"], headers=reviewer).json()
    assert preview["features"][0]["properties"]["change"] == "added"
    own = client.post(f"/api/change-sets/{change_set['id']}/approve", headers=maintainer)
    assert own.status_code == 403  # a maintainer does not review

    published = client.post(
        f"/api/change-sets/{change_set['id']}/approve", headers=reviewer, json={"note": "ok"}
    )
    assert published.status_code == 200, published.text
    version = published.json()["version"]
    sites = client.get("/api/sites", params={"q": "接口上传中心"}).json()
    assert [f["properties"]["name"] for f in sites["features"]] == ["接口上传中心"]
    assert client.get("/api/versions").json()[0]["version"] == version
    audit = client.get(
        "/api/audit",
        params={"entity": "change_set", "entity_id": change_set["id"]},
        headers=reviewer,
    ).json()
    assert [(e["actor"], e["action"]) for e in audit] == [
        ("reviewer1", "publish"),
        ("maint_lixia", "draft"),
    ]
    assert client.get("/api/audit", headers=maintainer).status_code == 403


def test_the_api_refuses_bad_files_with_the_rows_named(
    client: TestClient, session: Session, people: People
) -> None:
    maintainer = people.bearer(session, people.maintainer)
    rows = [new_site("第一个中心"), new_site("第二个中心", 纬度=117.07, 经度=36.65)]
    files = {"file": ("bad.csv", site_csv(rows), "text/csv")}
    answer = client.post("/api/uploads", files=files, headers=maintainer)
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "upload_rejected"
    [problem] = [p for p in body["report"]["problems"] if p["severity"] == "error"]
    assert problem["row"] == 3 and problem["code"] == "swapped_coordinates"
    assert client.post("/api/uploads", files=files).status_code == 401  # signed in only


def test_a_scoped_maintainer_is_refused_on_every_write_path_with_403_naming_the_scope(
    client: TestClient, session: Session, people: People
) -> None:
    """A maintainer of 历下区 tries every write path on 槐荫区's records over HTTP."""
    site = session.scalars(
        select(Site).where(Site.region_code.like("370104%"), Site.status == SiteStatus.published)
    ).first()
    facility = session.scalars(
        select(Facility).where(
            Facility.region_code.like("370104%"), Facility.status == SiteStatus.published
        )
    ).first()
    assert site is not None and facility is not None
    huaiyin_site = {
        **_values("越界新增"),
        "region_code": HUAIYIN,
        "lon": HUAIYIN_POINT[0],
        "lat": HUAIYIN_POINT[1],
    }
    huaiyin_facility = {
        "name": "越界停车场",
        "category": "parking",
        "region_code": HUAIYIN,
        "lon": HUAIYIN_POINT[0],
        "lat": HUAIYIN_POINT[1],
    }
    outside_file = site_csv([new_site("越界上传中心", HUAIYIN_POINT, 区划代码=HUAIYIN)])
    headers = people.bearer(session, people.maintainer)
    for method, path, body in (
        ("POST", "/api/sites", huaiyin_site),
        ("PATCH", f"/api/sites/{site.id}", {"phone": "0531-0"}),
        ("DELETE", f"/api/sites/{site.id}", None),
        ("POST", "/api/facilities", huaiyin_facility),
        ("PATCH", f"/api/facilities/{facility.id}", {"name": "改名"}),
        ("DELETE", f"/api/facilities/{facility.id}", None),
    ):
        answer = client.request(method, path, json=body, headers=headers)
        assert answer.status_code == 403, (method, path, answer.text)
        assert "370102000000" in answer.json()["detail"], answer.text  # the user's own scope
    upload = client.post(
        "/api/uploads", files={"file": ("o.csv", outside_file, "text/csv")}, headers=headers
    )
    assert upload.status_code == 403 and "370102000000" in upload.json()["detail"]
    assert upload.json()["report"]["bad_rows"] == [2]

    # review paths: a maintainer never reviews, and a withdrawal is the author's
    _, theirs = service.upload(
        session,
        people.maintainer_huaiyin,
        file_name="t.csv",
        data=site_csv([new_site("槐荫送审中心", HUAIYIN_POINT, 区划代码=HUAIYIN)]),
        entity=Entity.sites,
        crs=CRS.wgs84,
    )
    assert theirs is not None
    for path, body in (
        (f"/api/change-sets/{theirs.id}/approve", {}),
        (f"/api/change-sets/{theirs.id}/reject", {"reason": "不对"}),
        (f"/api/change-sets/{theirs.id}/withdraw", None),
    ):
        answer = client.post(path, json=body, headers=headers)
        assert answer.status_code == 403, (path, answer.text)
    assert session.get(ChangeSet, theirs.id).status == ChangeSetStatus.draft  # type: ignore[union-attr]
    version = service.approve(session, theirs.id, people.reviewer).version
    answer = client.post(f"/api/versions/{version - 1}/rollback", json={}, headers=headers)
    assert answer.status_code == 403, answer.text
    assert service.current_version(session) == version
    agent = people.bearer(session, people.agent)
    assert client.post("/api/sites", json=_values("代理新增"), headers=agent).status_code == 403


def test_upload_size_limit_is_a_clear_413(
    client: TestClient, session: Session, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geo.settings import get_settings

    monkeypatch.setattr(get_settings(), "upload_max_bytes", 1000)
    rows = [
        new_site(f"大文件中心{i}", (LIXIA_POINT[0] + i * 0.001, LIXIA_POINT[1])) for i in range(40)
    ]
    files = {"file": ("big.csv", site_csv(rows), "text/csv")}
    answer = client.post(
        "/api/uploads", files=files, headers=people.bearer(session, people.maintainer)
    )
    assert answer.status_code == 413
    assert "DAOFU_UPLOAD_MAX_BYTES" in answer.json()["detail"]
    assert session.scalar(select(func.count()).select_from(Publication)) is not None


def test_a_facilities_file_in_bd09_is_published_and_listed(
    client: TestClient, session: Session, people: People
) -> None:
    from geo.coords import bd09_to_wgs84, wgs84_to_bd09

    bx, by = wgs84_to_bd09(*LIXIA_POINT)
    data = (
        "名称,类别,子类,地址,营业时间,经度,纬度\n"
        f"泉城示例停车场,停车设施,公共停车场,历下区示例路2号,24/7,{bx:.7f},{by:.7f}\n"
        f"示例社区卫生服务站,医疗卫生,,历下区示例路3号,Mo-Fr 08:00-17:00,"
        f"{bx + 0.002:.7f},{by:.7f}\n"
    ).encode("gb18030")
    report, change_set = service.upload(
        session,
        people.maintainer,
        file_name="设施.csv",
        data=data,
        entity=Entity.facilities,
        crs=CRS.bd09,
    )
    assert report.ok, report.to_json()["problems"]
    assert change_set is not None
    service.approve(session, change_set.id, people.reviewer)
    found = client.get("/api/facilities", params={"q": "泉城示例停车场"}).json()["features"]
    assert [f["properties"]["category"] for f in found] == ["parking"]
    assert found[0]["properties"]["region_code"] == "370102000000"  # from the district it is in
    lon, lat = found[0]["geometry"]["coordinates"]
    wx, wy = bd09_to_wgs84(bx, by)
    assert abs(lon - wx) < 1e-6 and abs(lat - wy) < 1e-6
