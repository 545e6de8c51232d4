"""Item search: what a citizen types to find a government service item (事项).

"模糊搜索、精准导航" (domain.md): a query may be colloquial (开饭店), full pinyin
(shenfenzheng), initials (sfz), carry a typo (身分证, 营业执造), name a
department (公安局 身份证) or wrap the item in filler (我想问一下…怎么办).
The query is rewritten into a few *variants* (pinyin → characters, typo
correction, synonyms from ``synonyms.csv``); each variant is scored against every
item by IDF-weighted character unigram/bigram coverage, and the best variant per
item wins. When the best item explains too little of the query the result says
``nothing_fits`` instead of guessing.

Decoupled from the database: build from any iterable of :class:`SearchableItem`.
"""

from __future__ import annotations

import csv
import math
import re
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice, pairwise, product
from pathlib import Path
from typing import Literal, cast

import jieba
import numpy as np
from pypinyin import lazy_pinyin

from geo.errors import DataFileError

MatchedBy = Literal["name", "alias", "pinyin", "initials", "fuzzy", "department"]

SYNONYMS_PATH = Path(__file__).with_name("synonyms.csv")

# How much a variant is trusted relative to what the citizen literally typed.
_PENALTY: dict[str, float] = {
    "name": 1.0,
    "alias": 0.97,
    "pinyin": 0.95,
    "initials": 0.93,
    "fuzzy": 0.9,
    "department": 0.5,
}
# A rewrite inherits the label of the first, least literal step (sbk → 社保卡 → 社会保障卡).
_LABEL_RANK: dict[str, int] = {"name": 0, "alias": 1, "fuzzy": 2, "pinyin": 3, "initials": 4}
_FIELD_WEIGHT = {"name": 1.0, "alias": 1.0, "category": 0.9, "department": 0.5}
_BIGRAM_FACTOR = 1.5
_MAX_VARIANTS = 24
_OTHER_DEPARTMENT_FACTOR = 0.7
# Correct typos only when the literal query explains the best item this badly.
_TRY_CORRECTION_BELOW = 0.75
_CORRECTION_GAIN = 0.15
# Without an action word in the query, a citizen means the main item (设立, 核发,
# 新办), not its follow-ups; those rank a little lower.
_SECONDARY_ACTIONS = (
    "注销",
    "变更",
    "延续",
    "补办",
    "补领",
    "补发",
    "补证",
    "遗失",
    "换发",
    "换证",
    "换领",
    "撤销",
    "终止",
    "歇业",
    "停业",
    "作废",
    "转出",
    "转入",
    "迁移",
    "解除",
    "封存",
    "解封",
    "挂失",
    "恢复",
    "复审",
    "复查",
    "校验",
    "重置",
    "修改",
    "过户",
    "更正",
    "延期",
    "再注册",
    "减少",
)
_SECONDARY_FACTOR = 0.93
_SOFT_BONUS = 0.05
# Honest "nothing fits": a hit must explain most of the query, or a good part of it
# with a substantial matched phrase. Tuned on the negative rows of the eval set.
_FIT_COVERAGE = 0.62
_FIT_COVERAGE_WITH_EVIDENCE = 0.42
_FIT_EVIDENCE = 14.0
_RELATIVE_CUTOFF = 0.6

# Filler a citizen wraps around an item; never part of what they look for.
STOPWORDS = frozenset(
    [
        "我",
        "我们",
        "你",
        "你们",
        "他",
        "她",
        "它",
        "想",
        "想要",
        "要",
        "请问",
        "请",
        "问",
        "问一下",
        "一下",
        "怎么",
        "怎么办",
        "怎样",
        "怎么样",
        "如何",
        "咋",
        "咋办",
        "哪里",
        "哪儿",
        "哪",
        "在哪",
        "在哪里",
        "在哪儿",
        "去哪",
        "去哪里",
        "去哪儿",
        "到哪",
        "到哪里",
        "什么",
        "啥",
        "什么样",
        "需要",
        "需",
        "得",
        "的",
        "地",
        "了",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "哦",
        "嘛",
        "么",
        "能",
        "能不能",
        "可以",
        "可不可以",
        "是否",
        "是不是",
        "有没有",
        "有",
        "没有",
        "是",
        "都",
        "还",
        "也",
        "就",
        "该",
        "应该",
        "一个",
        "个",
        "这个",
        "那个",
        "这边",
        "那边",
        "这里",
        "那里",
        "本地",
        "当地",
        "手续",
        "流程",
        "材料",
        "资料",
        "去",
        "在",
        "给",
        "帮",
        "帮我",
        "带",
        "准备",
        "多久",
        "多长时间",
        "时间",
        "多少",
        "多少钱",
        "费用",
        "收费",
        "地方",
        "窗口",
        "如果",
        "现在",
        "已经",
        "刚",
        "刚刚",
        "自己",
        "和",
        "与",
        "及",
        "或",
        "或者",
        "以及",
        "把",
        "被",
        "让",
        "跟",
        "家里",
        "家人",
        "一些",
        "哪些",
        "办个",
        "搞",
        "弄",
        "里",
        "上",
        "下",
        "过来",
        "过去",
        "回来",
        "please",
        "how",
        "to",
        "where",
        "what",
        "i",
        "want",
        "need",
    ]
)
# Words that say "I want to do it" rather than what: they rank, but never make a hit fit.
SOFT_WORDS = frozenset({"申请", "办理", "办", "申领", "领取"})

_CJK = "\u3400-\u9fff"
_UNIT_RE = re.compile(rf"[{_CJK}]|[a-z0-9]+")
_CJK_RUN_RE = re.compile(rf"[{_CJK}]+")
_LATIN_RUN_RE = re.compile(r"[a-z]+(?: [a-z]+)*")
_PAREN_RE = re.compile(r"[(（][^()（）]*[)）]")
_NON_WORD_RE = re.compile(rf"[^a-z0-9{_CJK}]+")
_DEPT_PREFIX_RE = re.compile(r"^(广安区|区|市|县)")
_DEPT_SUFFIX_RE = re.compile(r"(分局|大队|局|办|部|委|中心)$")
_DEPT_MENTION_SUFFIXES = ("分局", "局", "大队", "委", "部", "中心", "部门")
# Everyday names of departments → a core that appears in the official name.
_DEPARTMENT_ALIASES: dict[str, str] = {
    "教育": "教科体",
    "医保": "医疗保障",
    "社保": "人社",
    "人力资源": "人社",
    "交通": "交通运输",
    "市场监管": "市监",
    "卫生": "卫健",
    "国土": "自然资源",
    "规划": "自然资源",
    "环保": "生态环境",
    "水利": "水务",
    "农业": "农业农村",
    "文旅": "文广旅",
    "文化": "文广旅",
    "退役军人": "退役军人事务",
    "审批": "行政审批",
    "政务服务": "行政审批",
    "城管": "综合执法",
    "统战": "统战",
    "派出所": "公安",
}


@dataclass(frozen=True)
class SearchableItem:
    """What search needs to know of an item: its official code and names."""

    code: str
    name: str
    department: str
    category: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Synonym:
    """One row of ``synonyms.csv``: a citizen's word and the official wording it stands for."""

    term: str
    expands_to: str
    note: str = ""


@dataclass(frozen=True)
class SearchHit:
    """One item found; ``score`` in [0, 1]; ``matched_by`` says how the query reached it."""

    code: str
    name: str
    department: str
    score: float
    matched_by: MatchedBy


@dataclass(frozen=True)
class DepartmentGroup:
    """The hits of one department, best first."""

    department: str
    hits: tuple[SearchHit, ...]


@dataclass(frozen=True)
class SearchResult:
    """Hits best first, the same hits grouped by department, or an honest nothing-fits.

    ``interpreted_as`` is the rewritten query behind the best hit (e.g. 社会保障卡 挂失
    for 社保卡丢了), for a "searched for …" line. ``suggestions`` are the weak
    candidates when nothing fits: shown, if at all, as "did you mean", never as answers.
    """

    query: str
    hits: tuple[SearchHit, ...]
    groups: tuple[DepartmentGroup, ...]
    nothing_fits: bool
    message: str | None
    interpreted_as: str
    suggestions: tuple[SearchHit, ...] = ()


class SynonymTableInvalid(DataFileError):
    """``synonyms.csv`` is malformed (missing column, empty term or expansion)."""

    code = "synonym_table_invalid"
    title = "同义词表有误 Synonym table invalid"


# --- text helpers -----------------------------------------------------------------


def normalise(text: str) -> str:
    """Full-width → half-width, lower case, punctuation → single spaces."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return _NON_WORD_RE.sub(" ", folded).strip()


def _units(text: str) -> list[str]:
    return _UNIT_RE.findall(text)


def _grams(segments: Iterable[Sequence[str]]) -> set[str]:
    grams: set[str] = set()
    for units in segments:
        grams.update(units)
        grams.update(f"{a}\t{b}" for a, b in pairwise(units))
    return grams


def _field_grams(text: str) -> set[str]:
    return _grams(_units(part) for part in normalise(text).split())


def _syllables(text: str) -> list[str]:
    return [s.replace("ü", "v") for s in lazy_pinyin(text, errors="ignore")]


def department_core(department: str) -> str:
    """区公安分局 → 公安; 广安区税务局 → 税务; 区残联 → 残联."""
    return _DEPT_SUFFIX_RE.sub("", _DEPT_PREFIX_RE.sub("", department)) or department


# --- synonyms ---------------------------------------------------------------------


def load_synonyms(path: Path = SYNONYMS_PATH) -> tuple[Synonym, ...]:
    """Read the maintainers' synonym table (columns term, expands_to, note)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"term", "expands_to"} - set(reader.fieldnames or ())
        if missing:
            raise SynonymTableInvalid(str(path), f"missing column(s) {sorted(missing)}")
        rows = []
        for line, row in enumerate(reader, start=2):
            term, expansion = normalise(row["term"] or ""), (row["expands_to"] or "").strip()
            if not term or not expansion:
                raise SynonymTableInvalid(str(path), f"row {line}: empty term or expands_to")
            rows.append(Synonym(term, normalise(expansion), (row.get("note") or "").strip()))
    return tuple(rows)


# --- jieba's dictionary is costly to load (~1 s): loaded once, copied per index ------

_BASE_TOKENIZER: jieba.Tokenizer | None = None
_TOKENIZER_LOCK = threading.Lock()


def _tokenizer(user_words: Iterable[str]) -> jieba.Tokenizer:
    """A tokenizer of its own for one index: the shared dictionary plus that index's words.

    Each index gets a copy, so words of an earlier index (another catalogue, older
    aliases) never change how a later one segments.
    """
    global _BASE_TOKENIZER
    with _TOKENIZER_LOCK:
        if _BASE_TOKENIZER is None:
            jieba.setLogLevel(60)
            base = jieba.Tokenizer()
            base.initialize()
            _BASE_TOKENIZER = base
        tokenizer = jieba.Tokenizer()
        tokenizer.FREQ = dict(_BASE_TOKENIZER.FREQ)
        tokenizer.total = _BASE_TOKENIZER.total
        tokenizer.initialized = True
    for word in user_words:
        if 1 < len(word) <= 12 and not tokenizer.FREQ.get(word):
            tokenizer.add_word(word, freq=2000)
    return tokenizer


@dataclass(frozen=True)
class _Variant:
    text: str
    label: str


@dataclass
class _Scored:
    score: np.ndarray
    coverage: np.ndarray
    evidence: np.ndarray
    label: list[str]
    text: list[str]


class ItemSearchIndex:
    """An in-memory index of the catalogue; build once, query from many threads."""

    def __init__(self) -> None:
        raise TypeError("use ItemSearchIndex.build(items)")

    @classmethod
    def build(
        cls, items: Iterable[SearchableItem], synonyms: Iterable[Synonym] | None = None
    ) -> ItemSearchIndex:
        """Index ``items`` (deduplicated by code); ``synonyms`` default to ``synonyms.csv``."""
        index = object.__new__(cls)
        index._items = tuple({item.code: item for item in items}.values())
        index._load_synonyms(load_synonyms() if synonyms is None else tuple(synonyms))
        index._index_grams()
        index._index_vocabulary()
        index._index_departments()
        return index

    # --- build steps ------------------------------------------------------------

    _items: tuple[SearchableItem, ...]
    _synonyms: dict[str, tuple[str, ...]]
    _synonym_terms: tuple[str, ...]

    def _load_synonyms(self, synonyms: tuple[Synonym, ...]) -> None:
        table: dict[str, list[str]] = defaultdict(list)
        for synonym in synonyms:
            if synonym.expands_to not in table[synonym.term]:
                table[synonym.term].append(synonym.expands_to)
        everything = "\n".join(normalise(" ".join(self._texts(item))) for item in self._items)
        for term, expansions in table.items():
            # A term that items themselves use stays an alternative to its expansions.
            if term in everything and term not in expansions:
                expansions.append(term)
        self._synonyms = {term: tuple(expansions) for term, expansions in table.items()}
        self._synonym_terms = tuple(sorted(table, key=len, reverse=True))

    @staticmethod
    def _texts(item: SearchableItem) -> list[str]:
        return [item.name, item.category, *item.aliases]

    def _index_grams(self) -> None:
        n = len(self._items)
        best: dict[str, dict[int, float]] = defaultdict(dict)
        by_alias: dict[str, dict[int, float]] = defaultdict(dict)
        by_name: dict[str, dict[int, float]] = defaultdict(dict)
        docs: list[tuple[int, set[str]]] = []  # name-like fields, for precision
        for i, item in enumerate(self._items):
            fields = [("name", item.name), ("department", department_core(item.department))]
            bare = _PAREN_RE.sub("", item.name)
            if bare != item.name:
                fields.append(("name", bare))
            if item.category and item.category not in ("未分类", item.name):
                fields.append(("category", item.category))
            fields += [("alias", alias) for alias in item.aliases]
            for kind, text in fields:
                grams = _field_grams(text)
                for gram in grams:
                    weight = _FIELD_WEIGHT[kind]
                    if best[gram].get(i, 0.0) < weight:
                        best[gram][i] = weight
                    if kind in ("alias", "name"):
                        (by_alias if kind == "alias" else by_name)[gram][i] = 1.0
                if kind != "department" and grams:
                    docs.append((i, grams))
        self._idf = {g: math.log((n + 1) / (len(p) + 0.5)) for g, p in best.items()}
        self._unknown_idf = math.log((n + 1) / 0.5)
        self._postings = {
            g: (np.fromiter(p.keys(), np.int64), np.fromiter(p.values(), np.float64))
            for g, p in best.items()
        }
        self._index_precision_docs(docs)
        # Only to tell "alias" from "name" in matched_by; empty when no item has aliases.
        self._alias_postings = {g: np.fromiter(p, np.int64) for g, p in by_alias.items()}
        self._name_postings = (
            {g: np.fromiter(p, np.int64) for g, p in by_name.items() if g in by_alias}
            if by_alias
            else {}
        )
        self._secondary = np.array(
            [any(a in it.name for a in _SECONDARY_ACTIONS) for it in self._items]
        )

    def _index_precision_docs(self, docs: list[tuple[int, set[str]]]) -> None:
        doc_postings: dict[str, list[int]] = defaultdict(list)
        totals = np.zeros(len(docs))
        for d, (_, grams) in enumerate(docs):
            for gram in grams:
                doc_postings[gram].append(d)
                totals[d] += self._gram_weight(gram)
        self._doc_item = np.array([i for i, _ in docs], dtype=np.int64)
        self._doc_total = totals
        self._doc_postings = {g: np.array(d, dtype=np.int64) for g, d in doc_postings.items()}

    def _gram_weight(self, gram: str) -> float:
        idf = self._idf.get(gram, self._unknown_idf)
        return idf * _BIGRAM_FACTOR if "\t" in gram else idf

    def _index_vocabulary(self) -> None:
        """Words for pinyin conversion and typo correction, with how common each is."""
        pieces: set[str] = set(self._synonym_terms)
        for item in self._items:
            for text in self._texts(item):
                pieces.update(p for p in normalise(text).split() if 1 < len(p) <= 12)
        pieces.update(department_core(item.department) for item in self._items)
        tokenizer = _tokenizer(w for w in pieces if _CJK_RUN_RE.fullmatch(w))
        counts: Counter[str] = Counter()
        for item in self._items:
            words = {w for t in self._texts(item) for w in tokenizer.cut_for_search(normalise(t))}
            counts.update(w for w in words if len(w) > 1 and _CJK_RUN_RE.fullmatch(w))
        weight = {w: counts.get(w, 0) + 1.0 for w in pieces if _CJK_RUN_RE.fullmatch(w)}
        for w, c in counts.items():
            weight[w] = c + 1.0
        for term in self._synonym_terms:
            if _CJK_RUN_RE.fullmatch(term):
                weight[term] = weight.get(term, 1.0) + 5.0
        self._tokenizer = tokenizer
        self._word_weight = weight
        self._index_pinyin_keys(weight)
        self._index_deletions(weight)

    def _index_pinyin_keys(self, weight: dict[str, float]) -> None:
        full: dict[str, str] = {}
        initials: dict[str, str] = {}
        chars: Counter[str] = Counter()
        for word, w in weight.items():
            syllables = _syllables(word)
            if len(syllables) != len(word):
                continue
            for key, table in (
                ("".join(syllables), full),
                ("".join(s[0] for s in syllables), initials),
            ):
                if key not in table or weight[table[key]] < w:
                    table[key] = word
            chars.update(word)
        by_syllable: dict[str, str] = {}
        for char, _ in chars.most_common():
            by_syllable.setdefault("".join(_syllables(char)), char)
        self._full_keys, self._initial_keys, self._syllable_chars = full, initials, by_syllable
        spelled = [self._texts(item)[0] for item in self._items] + list(weight)
        self._initials_text = "|".join(
            "".join(s[0] for s in _syllables(_PAREN_RE.sub("", text)) if s) for text in spelled
        )

    def _index_deletions(self, weight: dict[str, float]) -> None:
        deletions: dict[str, list[str]] = defaultdict(list)
        for word in weight:
            if 3 <= len(word) <= 10:
                for k in range(len(word)):
                    deletions[word[:k] + word[k + 1 :]].append(word)
        self._deletions = dict(deletions)

    def _index_departments(self) -> None:
        departments = sorted({item.department for item in self._items})
        mentions: dict[str, set[str]] = defaultdict(set)
        cores = {d: department_core(d) for d in departments}
        for department, core in cores.items():
            mentions[department].add(department)
            mentions[_DEPT_PREFIX_RE.sub("", department)].add(department)
            for suffix in _DEPT_MENTION_SUFFIXES:
                mentions[core + suffix].add(department)
            if len(core) >= 2 and not _DEPT_SUFFIX_RE.search(_DEPT_PREFIX_RE.sub("", department)):
                mentions[core].add(department)  # 残联 is a complete name on its own
        for alias, core in _DEPARTMENT_ALIASES.items():
            for department in departments:
                if core in cores[department]:
                    for suffix in _DEPT_MENTION_SUFFIXES:
                        mentions[alias + suffix].add(department)
        self._department_mentions = {m: frozenset(d) for m, d in mentions.items() if len(m) > 1}
        self._mention_order = sorted(self._department_mentions, key=len, reverse=True)
        self._item_department = np.array([item.department for item in self._items], dtype=object)

    # --- querying ---------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._items)

    def search(self, query: str, limit: int = 10) -> SearchResult:
        """Find the items a citizen means by ``query``; at most ``limit`` hits."""
        text = normalise(query)
        text, departments = self._extract_departments(text)
        if not text and departments:
            return self._department_listing(query, departments, limit)
        base = self._convert_pinyin(self._apply_latin_synonyms(_Variant(text, "name")))
        scored = self._score_variants(self._expand_synonyms(base))
        literal = 0.0 if scored is None else float(scored.coverage.max())
        if literal < _TRY_CORRECTION_BELOW:
            corrected = self._correct_typos(base)
            fixed = (
                None
                if corrected is None
                else self._score_variants(self._expand_synonyms(corrected))
            )
            # A correction must explain clearly more of the query than the words as typed.
            if fixed is not None and fixed.coverage.max() >= literal + _CORRECTION_GAIN:
                scored = fixed if scored is None else _merge(scored, fixed)
        if scored is None:
            return _nothing(query, text)
        if departments:
            in_department = np.isin(self._item_department, list(departments))
            scored.score[~in_department] *= _OTHER_DEPARTMENT_FACTOR
        return self._result(query, scored, limit)

    def _extract_departments(self, text: str) -> tuple[str, frozenset[str]]:
        found: set[str] = set()
        for mention in self._mention_order:
            if mention in text:
                found.update(self._department_mentions[mention])
                text = text.replace(mention, " ")
        return " ".join(text.split()), frozenset(found)

    def _apply_latin_synonyms(self, variant: _Variant) -> _Variant:
        text = variant.text
        for term in self._synonym_terms:
            pattern = rf"\b{re.escape(term)}\b"
            if not _CJK_RUN_RE.search(term) and re.search(pattern, text):
                text = re.sub(pattern, f" {self._synonyms[term][0]} ", text)
        return _Variant(" ".join(text.split()), variant.label if text == variant.text else "alias")

    def _convert_pinyin(self, variant: _Variant) -> _Variant:
        label = variant.label
        parts: list[str] = []
        last = 0
        for match in _LATIN_RUN_RE.finditer(variant.text):
            converted, how = self._latin_to_words(match.group())
            parts += [variant.text[last : match.start()], converted]
            last = match.end()
            if how is not None and _LABEL_RANK[how] > _LABEL_RANK[label]:
                label = how
        parts.append(variant.text[last:])
        return _Variant(" ".join("".join(parts).split()), label)

    def _latin_to_words(self, run: str) -> tuple[str, str | None]:
        joined = run.replace(" ", "")
        if joined in STOPWORDS or run in STOPWORDS:
            return run, None
        best = _segment_latin(joined, self._full_keys, self._initial_keys, self._syllable_chars)
        if best is not None and best[1] == "initials" and joined not in self._initials_text:
            best = None  # initials must spell a stretch of some item's name, not random letters
        if best is None and " " in run:
            words = [
                _segment_latin(w, self._full_keys, {}, self._syllable_chars) for w in run.split()
            ]
            if all(w is not None for w in words):
                return " ".join(w[0] for w in words if w is not None), "pinyin"
        return (run, None) if best is None else best

    def _correct_typos(self, variant: _Variant) -> _Variant | None:
        text, changed = variant.text, False
        for run in _CJK_RUN_RE.findall(variant.text):
            fixed = self._correct_run(run)
            if fixed != run:
                text, changed = text.replace(run, fixed, 1), True
        if not changed:
            return None
        label = variant.label if _LABEL_RANK[variant.label] > _LABEL_RANK["fuzzy"] else "fuzzy"
        return _Variant(text, label)

    def _correct_run(self, run: str) -> str:
        known, spans = self._known_positions(run)
        syllables = _syllables(run)
        aligned = len(syllables) == len(run)
        candidates: list[tuple[int, float, int, int, str]] = []
        for length in range(min(len(run), 10), 1, -1):
            for start in range(len(run) - length + 1):
                end = start + length
                piece = run[start:end]
                if piece in self._word_weight or all(known[start:end]):
                    continue
                if any(s < end and start < e and (s < start or e > end) for s, e in spans):
                    continue  # would cut a word the catalogue knows in two
                if length == 2 and self._tokenizer.FREQ.get(piece):
                    continue  # a real word, not a typo of a catalogue word
                fix = self._homophone(syllables[start:end]) if aligned else None
                fix = fix or self._one_edit(piece)
                if fix is not None:
                    candidates.append((len(fix), self._word_weight[fix], start, end, fix))
        return _apply_fixes(run, candidates)

    def _known_positions(self, run: str) -> tuple[list[bool], list[tuple[int, int]]]:
        known = [False] * len(run)
        spans: list[tuple[int, int]] = []
        for length in range(min(len(run), 12), 1, -1):
            for start in range(len(run) - length + 1):
                if run[start : start + length] in self._word_weight:
                    known[start : start + length] = [True] * length
                    spans.append((start, start + length))
        return known, spans

    def _homophone(self, syllables: Sequence[str]) -> str | None:
        word = self._full_keys.get("".join(syllables))
        return word if word is not None and len(word) == len(syllables) else None

    def _one_edit(self, piece: str) -> str | None:
        """A catalogue word one substituted, missing or extra character away (≥ 3 chars)."""
        if len(piece) < 3:
            return None
        options: list[str] = list(self._deletions.get(piece, ()))  # one character missing
        for k in range(len(piece)):
            shorter = piece[:k] + piece[k + 1 :]
            options += [
                w
                for w in self._deletions.get(shorter, ())
                if len(w) == len(piece) and w[:k] == piece[:k] and w[k + 1 :] == piece[k + 1 :]
            ]
            if len(piece) >= 4 and shorter in self._word_weight:
                options.append(shorter)  # one character too many
        if not options:
            return None
        return max(options, key=lambda w: (self._word_weight[w], w))

    def _expand_synonyms(self, variant: _Variant) -> list[_Variant]:
        slots = self._synonym_slots(variant.text)
        if not slots:
            return [variant]
        text = variant.text
        out = [variant]
        label = variant.label if variant.label != "name" else "alias"
        for choice in islice(product(*(s[2] for s in slots)), _MAX_VARIANTS):
            pieces, last = [], 0
            for (start, end, _), replacement in zip(slots, choice, strict=True):
                pieces += [text[last:start], f" {replacement} "]
                last = end
            pieces.append(text[last:])
            out.append(_Variant(" ".join("".join(pieces).split()), label))
        return list({v.text: v for v in reversed(out)}.values())[::-1][:_MAX_VARIANTS]

    def _synonym_slots(self, text: str) -> list[tuple[int, int, tuple[str, ...]]]:
        """Where synonym terms occur, longest first, not overlapping, and not inside a
        longer word the catalogue itself uses (结婚 inside 结婚证 stays 结婚证)."""
        inside_known: list[bool] = [False] * len(text)
        position = 0
        for token in self._tokenizer.cut(text, HMM=False):
            if len(token) > 1 and token in self._word_weight and token not in self._synonyms:
                inside_known[position : position + len(token)] = [True] * len(token)
            position += len(token)
        slots: list[tuple[int, int, tuple[str, ...]]] = []
        taken = [False] * len(text)
        for term in self._synonym_terms:
            start = text.find(term)
            while start >= 0:
                end = start + len(term)
                boundary_ok = not all(inside_known[start:end]) or self._token_is(text, start, end)
                if boundary_ok and not any(taken[start:end]):
                    taken[start:end] = [True] * len(term)
                    slots.append((start, end, self._synonyms[term]))
                start = text.find(term, end)
        return sorted(slots)

    def _token_is(self, text: str, start: int, end: int) -> bool:
        position = 0
        for token in self._tokenizer.cut(text, HMM=False):
            if position == start and position + len(token) == end:
                return True
            position += len(token)
        return False

    def _segments(self, text: str) -> tuple[list[list[str]], list[str]]:
        """Runs of content units between filler words, and the soft words apart."""
        segments: list[list[str]] = []
        soft: list[str] = []
        current: list[str] = []
        for token in self._tokens(text):
            if not token or token in STOPWORDS or token in SOFT_WORDS:
                if token in SOFT_WORDS:
                    soft.append(token)
                if current:
                    segments.append(current)
                current = []
                continue
            current += _units(token)
        if current:
            segments.append(current)
        return segments, soft

    def _tokens(self, text: str) -> list[str]:
        """jieba's tokens, but 办公证 is 办 + 公证 when only 公证 is a catalogue word."""
        tokens: list[str] = []
        for token in self._tokenizer.cut(text, HMM=False):
            token = token.strip()
            head, rest = token[:1], token[1:]
            if (
                len(token) > 1
                and token not in self._word_weight
                and (head in STOPWORDS or head in SOFT_WORDS)
                and rest in self._word_weight
            ):
                tokens += [head, rest]
            else:
                tokens.append(token)
        return tokens

    def _score_variants(self, variants: list[_Variant]) -> _Scored | None:
        n = len(self._items)
        any_grams = False
        best = _Scored(np.zeros(n), np.zeros(n), np.zeros(n), ["name"] * n, [""] * n)
        for variant in variants:
            segments, soft = self._segments(variant.text)
            grams = _grams(segments)
            if not grams:
                continue
            any_grams = True
            coverage, evidence, precision = self._score_grams(grams)
            penalty = _PENALTY[variant.label]
            score = penalty * coverage * (0.7 + 0.3 * precision)
            if soft:
                soft_cover, _, _ = self._score_grams(_grams([_units(w) for w in soft]))
                score += _SOFT_BONUS * soft_cover
            if not any(a in variant.text for a in _SECONDARY_ACTIONS):
                score[self._secondary] *= _SECONDARY_FACTOR
            better = np.flatnonzero(score > best.score)
            best.score[better] = score[better]
            best.coverage[better] = penalty * coverage[better]
            best.evidence[better] = evidence[better]
            alias_better = self._alias_wins(grams) if variant.label == "name" else None
            for i in better:
                by_alias = alias_better is not None and alias_better[i]
                best.label[i] = "alias" if by_alias else variant.label
                best.text[i] = variant.text
        return best if any_grams else None

    def _alias_wins(self, grams: set[str]) -> np.ndarray | None:
        """Per item: did its aliases explain more of the query than its name?"""
        if not self._alias_postings:
            return None
        alias, name = np.zeros(len(self._items)), np.zeros(len(self._items))
        for gram in grams:
            weight = self._gram_weight(gram)
            alias[self._alias_postings.get(gram, _EMPTY)] += weight
            name[self._name_postings.get(gram, _EMPTY)] += weight
        return alias > name

    def _score_grams(self, grams: set[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per item: share of the query's weight it covers, that weight, and the best
        share of one of its names (name, category, alias) the query covers."""
        n = len(self._items)
        matched = np.zeros(n)
        doc_matched = np.zeros(len(self._doc_total))
        total = 0.0
        for gram in grams:
            weight = self._gram_weight(gram)
            total += weight
            posting = self._postings.get(gram)
            if posting is not None:
                matched[posting[0]] += weight * posting[1]
                doc_matched[self._doc_postings.get(gram, _EMPTY)] += weight
        precision = np.zeros(n)
        np.maximum.at(precision, self._doc_item, doc_matched / np.maximum(self._doc_total, 1e-9))
        return matched / total, matched, precision

    def _result(self, query: str, scored: _Scored, limit: int) -> SearchResult:
        order = np.lexsort((self._name_lengths(), -scored.score))
        top = int(order[0])
        fits = scored.coverage[top] >= _FIT_COVERAGE or (
            scored.coverage[top] >= _FIT_COVERAGE_WITH_EVIDENCE
            and scored.evidence[top] >= _FIT_EVIDENCE
        )
        cutoff = scored.score[top] * _RELATIVE_CUTOFF
        chosen = [int(i) for i in order[: max(limit, 0)] if scored.score[i] >= cutoff]
        hits = tuple(self._hit(i, scored) for i in chosen)
        if not fits:
            weak = tuple(h for h in hits[:3] if h.score > 0.25)
            return _nothing(query, scored.text[top], weak)
        return SearchResult(query, hits, _group(hits), False, None, scored.text[top])

    def _name_lengths(self) -> np.ndarray:
        lengths = getattr(self, "_lengths", None)
        if lengths is None:
            lengths = np.array([len(item.name) for item in self._items])
            self._lengths = lengths
        return lengths

    def _hit(self, i: int, scored: _Scored) -> SearchHit:
        item = self._items[i]
        label = scored.label[i]
        return SearchHit(
            item.code,
            item.name,
            item.department,
            round(float(scored.score[i]), 4),
            cast(MatchedBy, label),
        )

    def _department_listing(
        self, query: str, departments: frozenset[str], limit: int
    ) -> SearchResult:
        items = [item for item in self._items if item.department in departments]
        items.sort(key=lambda item: (len(item.name), item.code))
        hits = tuple(
            SearchHit(item.code, item.name, item.department, 0.5, "department")
            for item in items[: max(limit, 0)]
        )
        return SearchResult(query, hits, _group(hits), False, None, " ".join(sorted(departments)))


_EMPTY = np.zeros(0, dtype=np.int64)


def _merge(first: _Scored, second: _Scored) -> _Scored:
    """Per item, the better of two scorings."""
    for i in np.flatnonzero(second.score > first.score):
        first.score[i], first.coverage[i] = second.score[i], second.coverage[i]
        first.evidence[i], first.label[i], first.text[i] = (
            second.evidence[i],
            second.label[i],
            second.text[i],
        )
    return first


def _segment_latin(
    run: str, full: dict[str, str], initials: dict[str, str], chars: dict[str, str]
) -> tuple[str, str] | None:
    """Split a latin run into pinyin words, initials of words, or single syllables.

    Least cost wins: a whole word by full pinyin costs 1, by initials 1.5, a single
    syllable (most common character) 2.5. Initials only for short runs (≤ 8
    letters), since long random letters would otherwise always parse.
    """
    n = len(run)
    best: list[tuple[float, list[str], bool] | None] = [None] * (n + 1)
    best[0] = (0.0, [], False)
    for i in range(n):
        here = best[i]
        if here is None:
            continue
        for j in range(i + 1, min(n, i + 30) + 1):
            piece = run[i:j]
            options: list[tuple[float, str, bool]] = []
            if piece in full:
                options.append((1.0, full[piece], False))
            if n <= 8 and j - i >= 2 and piece in initials:
                options.append((1.5, initials[piece], True))
            if piece in chars:
                options.append((2.5, chars[piece], False))
            for cost, word, by_initials in options:
                candidate = (here[0] + cost, [*here[1], word], here[2] or by_initials)
                current = best[j]
                if current is None or candidate[0] < current[0]:
                    best[j] = candidate
    done = best[n]
    if done is None or (done[2] and len(done[1]) > 3):
        return None
    return "".join(done[1]), "initials" if done[2] else "pinyin"


def _apply_fixes(run: str, candidates: list[tuple[int, float, int, int, str]]) -> str:
    """Apply the longest, most common corrections first, never two on one character."""
    taken = [False] * len(run)
    chosen: list[tuple[int, int, str]] = []
    for _, _, start, end, fix in sorted(candidates, key=lambda c: (-c[0], -c[1], c[2])):
        if not any(taken[start:end]):
            taken[start:end] = [True] * (end - start)
            chosen.append((start, end, fix))
    for start, end, fix in sorted(chosen, reverse=True):
        run = run[:start] + fix + run[end:]
    return run


def _group(hits: Sequence[SearchHit]) -> tuple[DepartmentGroup, ...]:
    groups: dict[str, list[SearchHit]] = {}
    for hit in hits:  # hits are best first, so groups come out ordered by their best hit
        groups.setdefault(hit.department, []).append(hit)
    return tuple(DepartmentGroup(d, tuple(h)) for d, h in groups.items())


def _nothing(query: str, interpreted: str, suggestions: tuple[SearchHit, ...] = ()) -> SearchResult:
    message = (
        f"没有找到与“{query.strip()}”相符的事项，请换个说法，或到综合受理窗口咨询。"
        f" No service item fits “{query.strip()}”: try other words, or ask at the general"
        " service window."
    )
    return SearchResult(query, (), (), True, message, interpreted, suggestions)
