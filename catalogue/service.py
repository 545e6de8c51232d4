"""Items, bundles and the sites that handle an item: the catalogue's queries."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from catalogue.errors import BundleNotFound, ItemNotFound, NothingFits
from catalogue.models import Bundle, BundleItem, Item, SiteItem
from catalogue.search import ItemSearchIndex, SearchableItem, SearchResult
from geo.models import Site, SiteStatus

CATALOGUE_NOTICE = (
    "事项目录基于四川省广安市广安区公开的政务服务事项清单（名称、部门、编码为真实数据，非济南本地目录）；"
    "标注“示例内容”的受理条件、材料、流程、时限与收费为演示而编写，请以官方办事指南为准。"
    " — Item names, departments and codes come from a real district list (Guang'an, not Jinan);"
    " elements marked sample content were written for the demo."
)


def get_item(session: Session, code: str) -> Item:
    item = session.get(Item, code)
    if item is None:
        raise ItemNotFound(f"事项不存在 Item {code} not found", item_code=code)
    return item


class _IndexCache:
    """One search index per process, rebuilt when the items change (checked every few s)."""

    def __init__(self, check_interval_s: float = 5.0) -> None:
        self.check_interval_s = check_interval_s
        self._index: ItemSearchIndex | None = None
        self._fingerprint: str | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def get(self, session: Session) -> ItemSearchIndex:
        if self._index is not None and time.monotonic() - self._checked_at < self.check_interval_s:
            return self._index
        fingerprint = _fingerprint(session)
        with self._lock:
            if self._index is None or fingerprint != self._fingerprint:
                self._index = ItemSearchIndex.build(searchable_items(session))
                self._fingerprint = fingerprint
            self._checked_at = time.monotonic()
            return self._index


_FINGERPRINT = text(
    "SELECT count(*) || ':' || coalesce(md5(string_agg("
    "  code || ':' || name || ':' || colloquial::text, ',' ORDER BY code)), '') FROM items"
)


def _fingerprint(session: Session) -> str:
    """Changes whenever an item's code, name or colloquial names change."""
    return str(session.scalar(_FINGERPRINT))


_index_cache = _IndexCache()


def searchable_items(session: Session) -> list[SearchableItem]:
    rows = session.execute(
        select(Item.code, Item.name, Item.department, Item.category, Item.colloquial).order_by(
            Item.code
        )
    )
    return [
        SearchableItem(
            code=c, name=n, department=d, category=cat or "", aliases=tuple(colloquial or ())
        )
        for c, n, d, cat, colloquial in rows
    ]


def search_items(session: Session, query: str, limit: int = 10) -> SearchResult:
    return _index_cache.get(session).search(query, limit)


def resolve_item(session: Session, item: str) -> tuple[Item, list[Item]]:
    """An item from its code or from free text: the best hit and the other likely ones."""
    found = session.get(Item, item.strip())
    if found is not None:
        return found, []
    codes = _likely_codes(session, item)
    items = {i.code: i for i in session.scalars(select(Item).where(Item.code.in_(codes)))}
    ordered = [items[c] for c in codes if c in items]
    return ordered[0], ordered[1:]


def _likely_codes(session: Session, item: str) -> list[str]:
    result = search_items(session, item, limit=5)
    if result.nothing_fits or not result.hits:
        raise NothingFits(
            result.message or f"没有与“{item}”相符的事项 — no item fits '{item}'", query=item
        )
    return [hit.code for hit in result.hits]


@dataclass(frozen=True)
class ItemCard:
    """What an answer shows of an item (the fields of ``ItemSummary``)."""

    code: str
    name: str
    department: str
    category: str | None
    sample_content: bool


def item_cards(session: Session) -> dict[str, ItemCard]:
    """Every item's card, by code."""
    rows = session.execute(
        select(Item.code, Item.name, Item.department, Item.category, Item.sample_content)
    )
    return {row[0]: ItemCard(*row) for row in rows}


def resolve_item_card(
    session: Session, item: str, cards: Mapping[str, ItemCard]
) -> tuple[ItemCard, list[ItemCard]]:
    """:func:`resolve_item` from the cards of every item (as :func:`item_cards` gives them)."""
    found = cards.get(item.strip())
    if found is not None:
        return found, []
    ordered = [cards[c] for c in _likely_codes(session, item) if c in cards]
    return ordered[0], ordered[1:]


def sites_handling(session: Session, item_code: str) -> dict[int, SiteItem]:
    """Published sites that handle the item, by site id, with their window and notes."""
    rows = session.scalars(
        select(SiteItem)
        .join(Site, Site.id == SiteItem.site_id)
        .where(SiteItem.item_code == item_code, Site.status == SiteStatus.published)
    )
    return {link.site_id: link for link in rows}


def get_bundle(session: Session, code: str) -> tuple[Bundle, list[tuple[BundleItem, Item]]]:
    bundle = session.get(Bundle, code)
    if bundle is None:
        raise BundleNotFound(f"一件事不存在 Bundle {code} not found", bundle_code=code)
    steps = session.execute(
        select(BundleItem, Item)
        .join(Item, Item.code == BundleItem.item_code)
        .where(BundleItem.bundle_code == code)
        .order_by(BundleItem.position)
    ).all()
    return bundle, [(step, item) for step, item in steps]


def list_bundles(session: Session) -> list[Bundle]:
    return list(session.scalars(select(Bundle).order_by(Bundle.code)))
