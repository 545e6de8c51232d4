"""No user input makes the catalogue, matching or routing endpoints answer 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

XJK = "118.7787,32.0426"
ID_CARD = "513A0011200068-511602000000-000-1151130000877869M-1-00"
HOSTILE = [
    f"/api/match?item=' OR 1=1 --&from={XJK}",
    f"/api/match?item=%25&from={XJK}",
    f"/api/match?item=_&from={XJK}",
    f"/api/match?item={'身份证' * 40}&from={XJK}",
    f"/api/match?item=%00&from={XJK}",
    f"/api/match?item={ID_CARD}&from=nan,nan",
    f"/api/match?item={ID_CARD}&from=118.7787",
    f"/api/match?item={ID_CARD}&from=32.0426,118.7787",
    f"/api/match?item={ID_CARD}&from={XJK}&at=tomorrow",
    f"/api/match?item={ID_CARD}&from={XJK}&at=2027-02-30T10:00",
    f"/api/match?item={ID_CARD}&from={XJK}&at=9999-12-31T23:59",
    f"/api/match?item={ID_CARD}&from={XJK}&at=1900-01-01T00:00",
    f"/api/match?item={ID_CARD}&from={XJK}&mode=fly",
    f"/api/match?item={ID_CARD}&from={XJK}&k=0",
    f"/api/match?item={ID_CARD}&from={XJK}&k=100000",
    f"/api/match?item={ID_CARD}&from={XJK}&max_minutes=-5",
    f"/api/match?item={ID_CARD}&from={XJK}&max_wait_minutes=1e308",
    f"/api/match?item={ID_CARD}&from={XJK}&crs=mars",
    "/api/items/search?q=",
    "/api/items/search?q=%00",
    "/api/items/search?q=" + "a" * 500,
    "/api/items/search?q=🙂🙂🙂",
    "/api/items?limit=0",
    "/api/items?offset=-1",
    "/api/items/%20",
    "/api/bundles/B999",
    f"/api/bundles/B001/itinerary?from={XJK}&at=not-a-time",
    "/api/bundles/B001/itinerary?from=0,0",
    f"/api/bundles/B001/itinerary?from={XJK}&mode=boat",
    f"/api/route?from={XJK}&to=0,0",
    f"/api/route?from={XJK}&to={XJK}&mode=",
    f"/api/isochrone?at={XJK}&minutes=0",
    f"/api/isochrone?at={XJK}&minutes=5,5,5,5,5,5,5,5",
    f"/api/nearest-sites?at={XJK}&k=-1",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_input_gets_a_clear_4xx_never_a_500(nanjing_client: TestClient, url: str) -> None:
    response = nanjing_client.get(url)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["detail"] and body["code"]
