from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.models import Region


def test_fixture_database_has_all_divisions(session: Session) -> None:
    assert session.scalar(select(func.count()).select_from(Region)) == 65570
