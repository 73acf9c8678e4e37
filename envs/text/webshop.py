"""WebShop-lite: a self-contained, procedurally generated version of WebShop (Yao et al. 2022).

The catalog (categories, product types, an attribute vocabulary, option axes such as size,
colour and flavour, prices, templated titles, bullets, descriptions and reviews) and the
instruction goals are generated from a seed; search is BM25 over the catalog; the page state
machine and the reward follow WebShop's:

* pages: search -> results (10 per page, ``next >`` / ``< prev``) -> item (options,
  ``description`` / ``features`` / ``reviews`` sub-pages, ``buy now``), ``back to search`` anywhere;
* actions: ``search[...]`` (``under N dollars`` in a query is the shop's price filter) and
  ``click[...]`` strings; the env's admissible list (the
  observation contract's choices) holds a few queries built from the instruction on the search
  page and the page's buttons elsewhere; a raw ``search[any words]`` string is accepted too.
  Action strings longer than :data:`MAX_ACTION_CHARS` are invalid (a no-op step, like any other
  invalid action) without being parsed, and parsing is a single pass over the words, so a step
  costs time linear in its (bounded) input;
* reward at ``buy now``: ``r_type * (matched attributes + matched options + [price <= bound]) /
  (goal attributes + goal options + 1)``, with exact matching over the controlled vocabulary
  (``r_type`` = 1 for the right product type, 0.5 for the right category, 0.1 otherwise);
  success iff the reward is 1.

Goals are split by index into fixed test / validation / train sets (``split=``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlsuite.validation import ArgumentTypeError, check_choice, check_int, check_seed, short_repr

from ..validation import check_index_action, check_step_allowed
from .vocab import Vocabulary, tokenize

MAX_ACTION_CHARS = 4096
"""Longest action string ``step`` parses (the default ``max_length`` of ``TextActionWrapper``);
longer strings are invalid actions: a no-op step with ``info["is_action_valid"] = False``."""
MAX_PRODUCTS = 20_000
"""Most products of a generated catalog (the BM25 index is a dense [products, terms] matrix)."""
MAX_GOALS = 100_000
"""Most goals of a generated catalog."""
MAX_STEPS = 1_000_000
"""Longest episode (``max_steps``)."""
MAX_TOKENS = 65_536
"""Longest ``max_tokens`` / ``action_length`` observation."""
MAX_ACTIONS = 1024
"""Most admissible actions (``max_actions``)."""

# ---------------------------------------------------------------------- the controlled vocabulary
CATEGORIES: dict[str, dict[str, Any]] = {
    "grocery": {
        "types": ["snack bars", "coffee", "green tea", "cookies", "beef jerky", "mixed nuts", "granola"],
        "attributes": [
            "gluten free",
            "sugar free",
            "non gmo",
            "low carb",
            "keto friendly",
            "high protein",
            "organic",
            "kosher",
            "dairy free",
            "low sodium",
        ],
        "options": {
            "flavor": [
                "chocolate",
                "vanilla",
                "peanut butter",
                "sea salt",
                "honey",
                "original",
                "caramel",
                "mint",
            ],
            "size": ["6 count", "12 count", "24 count", "8 ounce", "16 ounce", "2 pound"],
        },
        "price": (3.0, 40.0),
    },
    "beauty": {
        "types": ["shampoo", "conditioner", "body lotion", "lip balm", "face wash", "sunscreen", "hair oil"],
        "attributes": [
            "paraben free",
            "sulfate free",
            "cruelty free",
            "fragrance free",
            "vegan",
            "long lasting",
            "natural ingredients",
            "dermatologist tested",
            "travel size",
            "oil free",
        ],
        "options": {
            "scent": ["lavender", "coconut", "unscented", "citrus", "rose", "eucalyptus", "vanilla"],
            "size": ["2 ounce", "8 ounce", "16 ounce", "32 ounce", "2 pack", "3 pack"],
        },
        "price": (4.0, 60.0),
    },
    "fashion": {
        "types": ["running shoes", "t shirt", "jeans", "hoodie", "sandals", "rain jacket", "socks"],
        "attributes": [
            "machine wash",
            "slim fit",
            "water resistant",
            "lightweight",
            "breathable",
            "non slip",
            "quick drying",
            "relaxed fit",
            "moisture wicking",
            "memory foam",
        ],
        "options": {
            "color": ["black", "white", "navy blue", "grey", "red", "olive green", "pink", "brown"],
            "size": ["small", "medium", "large", "x large", "xx large", "7", "8", "9", "10", "11"],
        },
        "price": (8.0, 120.0),
    },
    "electronics": {
        "types": ["headphones", "phone case", "wall charger", "usb cable", "bluetooth speaker", "power bank"],
        "attributes": [
            "wireless",
            "fast charging",
            "noise cancelling",
            "waterproof",
            "long battery life",
            "shockproof",
            "compact",
            "high definition",
            "easy install",
            "hands free",
        ],
        "options": {
            "color": ["black", "white", "silver", "blue", "red", "rose gold"],
            "pack": ["1 pack", "2 pack", "3 pack", "6 feet", "10 feet"],
        },
        "price": (6.0, 150.0),
    },
    "home": {
        "types": [
            "bed pillow",
            "throw blanket",
            "blackout curtains",
            "bath towel",
            "area rug",
            "shower curtain",
        ],
        "attributes": [
            "machine washable",
            "easy clean",
            "hypoallergenic",
            "blackout",
            "quick dry",
            "non slip",
            "super soft",
            "space saving",
            "stain resistant",
            "eco friendly",
        ],
        "options": {
            "color": ["beige", "grey", "navy", "white", "sage green", "charcoal", "ivory"],
            "size": ["twin", "queen", "king", "50 x 60 inch", "52 x 84 inch", "5 x 7 feet"],
        },
        "price": (10.0, 90.0),
    },
}
BRANDS = [
    "acme",
    "northwind",
    "bluepeak",
    "everyday",
    "purely",
    "urbanline",
    "sunfield",
    "maple",
    "corelink",
    "nimbus",
    "harbor",
    "vitalis",
    "oakridge",
    "zenith",
    "brightway",
    "trailhead",
]
EXTRAS = ["premium", "classic", "essential", "value pack", "everyday", "pro", "plus", "original formula"]
UI_WORDS = (
    "instruction search back to search next prev page results item price rating description features "
    "reviews buy now click total stars options you have clicked dollars i need am looking for a an with "
    "and lower than is are it for the of this that in on my product type category by about"
)
REVIEW_TEMPLATES = [
    "great {type} , really {attr} as described .",
    "the {attr} claim holds up . would buy this {type} again .",
    "good value for a {type} ; {attr} and works well .",
    "not bad , though i expected more from a {attr} {type} .",
]


@dataclass(frozen=True)
class Product:
    asin: str
    category: str
    product_type: str
    title: str
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]]
    price: float
    rating: float
    bullets: tuple[str, ...]
    description: str
    reviews: tuple[str, ...]

    def document(self) -> str:
        """The text searched by BM25."""
        return " ".join([self.title, self.product_type, self.category, *self.attributes, *self.bullets])


@dataclass(frozen=True)
class Goal:
    product: int
    """Index of the product the goal was sampled from (it satisfies the goal)."""
    product_type: str
    category: str
    attributes: tuple[str, ...]
    options: dict[str, str]
    price_upper: float
    instruction: str


@dataclass
class Catalog:
    """Products, goals and the BM25 index, all a deterministic function of ``seed``."""

    products: list[Product]
    goals: list[Goal]
    vocab: Vocabulary
    _bm25: dict[str, Any] = field(default_factory=dict, repr=False)

    def search(self, query: str, top: int = 50) -> list[int]:
        """Indices of the ``top`` products by BM25 score for ``query`` (score > 0), best first."""
        idx = self._bm25
        # Each distinct term once, weighted by its count: time and memory linear in the query.
        counts = Counter(idx["terms"][w] for w in tokenize(query) if w in idx["terms"])
        if not counts:
            return []
        cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        mult = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        scores = (idx["weights"][:, cols] * mult).sum(1)
        order = np.argsort(-scores, kind="stable")
        return [int(i) for i in order[:top] if scores[i] > 0]


def _bm25_index(products: list[Product], k1: float = 1.5, b: float = 0.75) -> dict[str, Any]:
    docs = [Counter(tokenize(p.document())) for p in products]
    terms: dict[str, int] = {}
    for d in docs:
        for w in d:
            terms.setdefault(w, len(terms))
    n, v = len(docs), len(terms)
    tf = np.zeros((n, v))
    for i, d in enumerate(docs):
        for w, c in d.items():
            tf[i, terms[w]] = c
    df = (tf > 0).sum(0)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    lengths = tf.sum(1, keepdims=True)
    norm = k1 * (1 - b + b * lengths / lengths.mean())
    return {"terms": terms, "weights": idf * tf * (k1 + 1) / (tf + norm)}


def type_options(category: str, product_type: str) -> dict[str, tuple[str, ...]]:
    """The option values every product of a type offers (at most 5 per axis): a goal's options
    are then available in every product of its type, as sizes and colours usually are, and the
    choice of product turns on the attributes and the price shown in the results."""
    spec = CATEGORIES[category]
    k = spec["types"].index(product_type)
    out = {}
    for axis in sorted(spec["options"]):
        values = spec["options"][axis]
        start = (3 * k) % len(values)
        out[axis] = tuple((values * 2)[start : start + min(5, len(values))])
    return out


def _make_product(rng: np.random.Generator, i: int) -> Product:
    cats = sorted(CATEGORIES)
    cat = cats[int(rng.integers(len(cats)))]
    spec = CATEGORIES[cat]
    ptype = spec["types"][int(rng.integers(len(spec["types"])))]
    n_attr = int(rng.integers(2, 5))
    attrs = tuple(sorted(rng.choice(spec["attributes"], n_attr, replace=False).tolist()))
    options = type_options(cat, ptype)
    lo, hi = spec["price"]
    price = round(float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), 2)
    brand = BRANDS[int(rng.integers(len(BRANDS)))]
    shown = list(rng.permutation(attrs))
    extra = EXTRAS[int(rng.integers(len(EXTRAS)))]
    title = f"{brand} {' '.join(shown)} {ptype} , {extra}"
    bullets = tuple(f"{a} : this {ptype} is {a} ." for a in attrs)
    description = f"the {brand} {ptype} from our {cat} line . " + " ".join(bullets)
    reviews = tuple(
        REVIEW_TEMPLATES[int(rng.integers(len(REVIEW_TEMPLATES)))].format(
            type=ptype, attr=attrs[j % len(attrs)]
        )
        for j in range(3)
    )
    asin = "b0" + "".join(rng.choice(list("abcdefghjkmnpqrstuvwxyz23456789"), 8).tolist())
    rating = round(float(rng.uniform(2.5, 5.0)), 1)
    return Product(asin, cat, ptype, title, attrs, options, price, rating, bullets, description, reviews)


def _make_goal(rng: np.random.Generator, products: list[Product]) -> Goal:
    i = int(rng.integers(len(products)))
    p = products[i]
    n_attr = int(rng.integers(1, min(3, len(p.attributes)) + 1))
    attrs = tuple(sorted(rng.choice(p.attributes, n_attr, replace=False).tolist()))
    axes = sorted(p.options)
    chosen_axes = [a for a in axes if rng.random() < 0.75] or [axes[0]]
    options = {a: str(rng.choice(p.options[a])) for a in chosen_axes}
    # WebShop: the bound is one of the next multiples of $10 above the price.
    upper = float(10 * (math.floor(p.price / 10) + 1 + int(rng.integers(0, 3))))
    opts = ", and ".join(f"{a} : {v}" for a, v in options.items())
    lead = ["i need", "i am looking for", "find me"][int(rng.integers(3))]
    article = "an" if attrs[0][0] in "aeiou" else "a"
    text = (
        f"{lead} {article} {' and '.join(attrs)} {p.product_type} with {opts} , "
        f"and price lower than {upper:.2f} dollars"
    )
    return Goal(i, p.product_type, p.category, attrs, options, upper, text)


def generate_catalog(n_products: int = 1000, n_goals: int = 3000, seed: int = 0) -> Catalog:
    """A catalog of ``n_products`` products and ``n_goals`` goals from ``seed``."""
    check_int("n_products", n_products, 10, MAX_PRODUCTS)
    check_int("n_goals", n_goals, 3, MAX_GOALS)
    check_int("catalog_seed", seed, 0)
    rng = np.random.default_rng([seed, 7])
    products = [_make_product(rng, i) for i in range(n_products)]
    goals = [_make_goal(rng, products) for _ in range(n_goals)]
    words: list[str] = tokenize(UI_WORDS + " " + " ".join(_BUTTONS)) + list("[]:,.;$()>")
    for p in products:
        words += tokenize(
            " ".join([p.asin, p.title, p.description, *p.reviews, f"{p.price:.2f}", str(p.rating)])
        )
        for axis, values in p.options.items():
            words += tokenize(axis + " " + " ".join(values))
    for g in goals:
        words += tokenize(g.instruction)
    return Catalog(products, goals, Vocabulary(words), _bm25_index(products))


def reward(goal: Goal, product: Product, selected: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """WebShop's reward with exact matching over the controlled vocabulary."""
    if product.product_type == goal.product_type:
        r_type = 1.0
    elif product.category == goal.category:
        r_type = 0.5
    else:
        r_type = 0.1
    attr = sum(a in product.attributes for a in goal.attributes)
    opt = sum(selected.get(axis) == value for axis, value in goal.options.items())
    price = float(product.price <= goal.price_upper)
    total = len(goal.attributes) + len(goal.options) + 1
    r = r_type * (attr + opt + price) / total
    return r, {
        "r_type": r_type,
        "r_att": attr / len(goal.attributes),
        "r_option": opt / max(len(goal.options), 1),
        "r_price": price,
    }


_BUTTONS = ["back to search", "next >", "< prev", "description", "features", "reviews", "buy now"]
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def search_query(text: str) -> str | None:
    """The query of a ``search[...]`` action (normalised text), or None if it is not one."""
    if text.startswith("search[") and text.endswith("]"):
        return text[len("search[") : -1]
    return None


def split_price_filter(query: str) -> tuple[str, float | None]:
    """``query``'s words without its ``under [$] N [dollars]`` phrases, and the first N (the shop's
    price filter; None without one). One pass over the words, no backtracking."""
    words = tokenize(query)
    kept: list[str] = []
    limit: float | None = None
    i = 0
    while i < len(words):
        if words[i] == "under":
            j = i + 1 + (i + 1 < len(words) and words[i + 1] == "$")
            if j < len(words) and _NUMBER.fullmatch(words[j]):
                if limit is None:
                    limit = float(words[j])
                i = j + 1 + (j + 1 < len(words) and words[j + 1] == "dollars")
                continue
        kept.append(words[i])
        i += 1
    return " ".join(kept), limit


class WebShopEnv(gym.Env):
    """WebShop-lite with the text-agent observation contract.

    Args:
        split: ``train``, ``validation`` or ``test`` goals (fixed by index: the first
            ``test_goals`` goals are the test set, the next ``validation_goals`` validation).
        n_products, n_goals, catalog_seed: the generated catalog (>= 1000 products by default).
        max_steps: the episode is truncated (reward 0) after this many actions (WebShop: 15).
        max_tokens: length of ``tokens`` (instruction first, then the page).
        max_actions, action_length: size of ``action_mask`` / ``action_tokens``.
        n_queries: search candidates offered on the search page (built from the instruction, the
            first with the shop's price filter: ``search[... under 40 dollars]`` keeps only the
            products at most $40; free-form searches may use it too).
        render_mode: ``ansi`` (the page text).

    Observation (``Dict``): ``tokens`` ``[max_tokens]``, ``action_mask`` ``[max_actions]``,
    ``action_tokens`` ``[max_actions, action_length]`` (a product's click is tokenised with its
    title, so a policy can tell results apart) and ``instruction`` (the goal's words, ``[48]``).
    Action: an index into ``info["admissible_actions"]`` (an integer in ``[0, max_actions)``;
    indices past the page's actions are invalid no-ops, floats, bools and other types raise), or a
    raw action string (``search[...]``, ``click[...]``; strings that are not admissible, or longer
    than :data:`MAX_ACTION_CHARS`, are invalid no-ops). ``step`` before ``reset`` or after the
    episode ended raises ``RuntimeError``.
    ``info``: ``text``, ``admissible_actions``, ``is_action_valid``, ``won``, ``instruction``,
    ``page``, and at the end the reward's parts.
    """

    # gymnasium.Env declares metadata as an instance attribute; it is a class constant.
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 1}  # type: ignore[misc]
    accepts_text_actions = True  # step() also takes action strings (free-form search[...])
    INSTRUCTION_TOKENS = 48
    SPLITS = ("train", "validation", "test")
    _catalogs: ClassVar[dict[tuple[int, int, int], Catalog]] = {}

    def __init__(
        self,
        split: str = "train",
        n_products: int = 1000,
        n_goals: int = 3000,
        catalog_seed: int = 0,
        test_goals: int = 500,
        validation_goals: int = 500,
        max_steps: int = 15,
        max_tokens: int = 160,
        max_actions: int = 24,
        action_length: int = 32,
        n_queries: int = 4,
        results_per_page: int = 10,
        search_top: int = 50,
        render_mode: str | None = None,
    ) -> None:
        check_choice("split", split, self.SPLITS)
        check_int("n_products", n_products, 10, MAX_PRODUCTS)
        check_int("n_goals", n_goals, 3, MAX_GOALS)
        check_int("catalog_seed", catalog_seed, 0)
        check_int("test_goals", test_goals, 0, n_goals)
        check_int("validation_goals", validation_goals, 0, n_goals)
        check_int("max_steps", max_steps, 1, MAX_STEPS)
        check_int("max_tokens", max_tokens, 1, MAX_TOKENS)
        check_int("action_length", action_length, 1, MAX_TOKENS)
        check_int("n_queries", n_queries, 1, 4)
        check_int("results_per_page", results_per_page, 1, MAX_ACTIONS - 3)
        check_int("search_top", search_top, 1, MAX_PRODUCTS)
        check_int("max_actions", max_actions, 1, MAX_ACTIONS)
        if max_actions * action_length > 4 * MAX_TOKENS:
            raise ValueError(
                f"action_length: got {action_length}; max_actions x action_length = "
                f"{max_actions * action_length} tokens per observation exceed the limit {4 * MAX_TOKENS}"
            )
        if test_goals + validation_goals >= n_goals:
            raise ValueError(
                f"n_goals: got {n_goals}; must exceed test_goals + validation_goals "
                f"= {test_goals + validation_goals}"
            )
        need = max(16, 3 + results_per_page)  # item page: 6 buttons + 2 axes x 5 values; results page
        if max_actions < need:
            raise ValueError(
                f"max_actions: got {max_actions}; must be >= {need} (buttons, results and options)"
            )
        if render_mode is not None:
            check_choice("render_mode", render_mode, self.metadata["render_modes"])
        key = (int(n_products), int(n_goals), int(catalog_seed))
        if key not in self._catalogs:  # the catalog is immutable: share it between copies
            self._catalogs[key] = generate_catalog(n_products, n_goals, catalog_seed)
        self.catalog = self._catalogs[key]
        self.split = split
        bounds = {"test": (0, test_goals), "validation": (test_goals, test_goals + validation_goals)}
        self.goal_ids = np.arange(*bounds.get(split, (test_goals + validation_goals, n_goals)))
        self.max_steps, self.max_tokens = int(max_steps), int(max_tokens)
        self.max_actions, self.action_length = int(max_actions), int(action_length)
        self.n_queries, self.per_page, self.search_top = (
            int(n_queries),
            int(results_per_page),
            int(search_top),
        )
        self.render_mode = render_mode
        self.vocab = self.catalog.vocab
        v = len(self.vocab)
        self.action_space = spaces.Discrete(self.max_actions)
        self.observation_space = spaces.Dict(
            {
                "tokens": spaces.Box(0, v - 1, (self.max_tokens,), np.int64),
                "action_mask": spaces.MultiBinary(self.max_actions),
                "action_tokens": spaces.Box(0, v - 1, (self.max_actions, self.action_length), np.int64),
                "instruction": spaces.Box(0, v - 1, (self.INSTRUCTION_TOKENS,), np.int64),
            }
        )
        self.goal: Goal | None = None
        self._page = "search"
        self._results: list[int] = []
        self._result_page = 0
        self._item: int | None = None
        self._selected: dict[str, str] = {}
        self._steps = 0
        self._actions: list[str] = []
        self._done = False

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=check_seed("seed", seed))
        if options is not None and not isinstance(options, dict):
            raise ArgumentTypeError(f"options: got {short_repr(options)}; must be a dict or None")
        options = dict(options or {})
        if set(options) - {"goal_index"}:
            raise ValueError(
                f"options: unknown keys {sorted(set(options) - {'goal_index'})}; allowed: ['goal_index']"
            )
        if "goal_index" in options:
            gi = check_int("options.goal_index", options["goal_index"], 0, len(self.catalog.goals) - 1)
        else:
            gi = int(self.goal_ids[int(self.np_random.integers(len(self.goal_ids)))])
        self.goal_index = gi
        self.goal = self.catalog.goals[gi]
        self._page, self._results, self._result_page = "search", [], 0
        self._item, self._selected, self._steps, self._done = None, {}, 0, False
        self._refresh()
        return self._obs(), self._info(True)

    def step(self, action: Any):
        check_step_allowed(self.goal is not None, self._done)
        if isinstance(action, str):
            if len(action) > MAX_ACTION_CHARS:  # refused unparsed: parsing stays bounded
                text, valid = "", False
            else:
                text = action.strip().lower()
                valid = text in self._actions or (self._page == "search" and search_query(text) is not None)
        else:
            index = check_index_action(action, self.max_actions, " or an action string")
            valid = index < len(self._actions)
            text = self._actions[index] if valid else ""
        self._steps += 1
        reward_value = 0.0
        parts: dict[str, Any] = {}
        terminated = False
        if valid:
            terminated, reward_value, parts = self._apply(text)
        truncated = not terminated and self._steps >= self.max_steps
        self._done = terminated or truncated
        self._refresh()
        info = self._info(valid)
        info.update(parts)
        info["won"] = bool(terminated and reward_value >= 1.0 - 1e-9)
        return self._obs(), float(reward_value), terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.page_text()
        gym.logger.warn("render() called without a render_mode; pass render_mode='ansi'")
        return None

    # ------------------------------------------------------------------ read-only views (scripted experts)
    @property
    def page(self) -> str:
        """The current page: ``"search"``, ``"results"``, ``"item"`` or a detail tab."""
        return self._page

    @property
    def actions(self) -> tuple[str, ...]:
        """The admissible actions of the current page, in index order (``info["admissible_actions"]``)."""
        return tuple(self._actions)

    @property
    def shown_products(self) -> list[int]:
        """Catalog indices of the products on the current results page."""
        return list(self._shown())

    @property
    def current_item(self) -> int | None:
        """Catalog index of the product on the item page (None elsewhere)."""
        return self._item

    @property
    def selected_options(self) -> dict[str, str]:
        """Options chosen on the item page, by axis (e.g. ``{"size": "12 count"}``)."""
        return dict(self._selected)

    # ------------------------------------------------------------------ the page state machine
    def queries(self) -> list[str]:
        """Search candidates built from the instruction (most to least specific)."""
        g = self.goal
        assert g is not None
        opts = " ".join(g.options.values())
        attrs = " ".join(g.attributes)
        cands = [
            f"{attrs} {g.product_type} {opts} under {g.price_upper:.0f} dollars",
            f"{attrs} {g.product_type} {opts}",
            f"{attrs} {g.product_type}",
            g.product_type,
        ]
        return [f"search[{q}]" for q in cands[: self.n_queries]]

    def _apply(self, text: str) -> tuple[bool, float, dict[str, Any]]:
        cat = self.catalog
        query = search_query(text)
        if query is not None:
            query, limit = split_price_filter(query)  # "under 40 dollars": the shop's price filter
            found = cat.search(query, self.search_top if limit is None else len(cat.products))
            if limit is not None:
                found = [i for i in found if cat.products[i].price <= limit][: self.search_top]
            self._results = found
            self._page, self._result_page = "results", 0
            return False, 0.0, {}
        target = text[len("click[") : -1] if text.startswith("click[") and text.endswith("]") else ""
        if target == "back to search":
            self._page, self._item, self._selected = "search", None, {}
        elif target == "next >":
            self._result_page += 1
        elif target == "< prev":
            if self._page == "results":
                self._result_page = max(0, self._result_page - 1)
            elif self._page == "item":
                self._page, self._item, self._selected = "results", None, {}
            else:
                self._page = "item"
        elif target in ("description", "features", "reviews"):
            self._page = target
        elif target == "buy now":
            assert self._item is not None and self.goal is not None
            r, parts = reward(self.goal, cat.products[self._item], self._selected)
            return True, r, parts
        elif self._page == "results":
            self._item = next(i for i in self._shown() if cat.products[i].asin == target)
            self._page, self._selected = "item", {}
        elif self._page == "item":
            assert self._item is not None
            for axis, values in cat.products[self._item].options.items():
                if target in values:
                    self._selected[axis] = target
                    break
        return False, 0.0, {}

    def _shown(self) -> list[int]:
        start = self._result_page * self.per_page
        return self._results[start : start + self.per_page]

    def _refresh(self) -> None:
        """Recompute the admissible actions of the current page."""
        acts: list[str] = []
        if self._page == "search":
            acts = self.queries()
        elif self._page == "results":
            acts = ["click[back to search]"]
            if self._result_page > 0:
                acts.append("click[< prev]")
            if (self._result_page + 1) * self.per_page < len(self._results):
                acts.append("click[next >]")
            acts += [f"click[{self.catalog.products[i].asin}]" for i in self._shown()]
        elif self._page == "item":
            assert self._item is not None
            acts = [
                "click[back to search]",
                "click[< prev]",
                "click[description]",
                "click[features]",
                "click[reviews]",
                "click[buy now]",
            ]
            for axis, values in self.catalog.products[self._item].options.items():
                # A selected option is a pressed radio button: it is no longer a choice.
                acts += [f"click[{v}]" for v in values if self._selected.get(axis) != v]
        else:
            acts = ["click[back to search]", "click[< prev]"]
        self._actions = acts[: self.max_actions]

    def page_text(self) -> str:
        """The current page as WebShop's ``text`` observation (``[SEP]``-joined)."""
        assert self.goal is not None
        parts = ["instruction :", self.goal.instruction]
        p = self.catalog.products
        if self._page == "search":
            parts.append("search")
        elif self._page == "results":
            parts.append(f"page {self._result_page + 1} ( total results : {len(self._results)} )")
            for i in self._shown():
                parts += [p[i].asin, p[i].title, f"$ {p[i].price:.2f}"]
        else:
            assert self._item is not None
            item = p[self._item]
            if self._page == "item":
                for axis, values in item.options.items():
                    parts += [axis, *values]
                parts += [item.title, f"price : $ {item.price:.2f}", f"rating : {item.rating}"]
                if self._selected:
                    parts.append("you have clicked " + " , ".join(self._selected.values()))
            elif self._page == "description":
                parts.append(item.description)
            elif self._page == "features":
                parts += list(item.bullets)
            else:
                parts += list(item.reviews)
        return " [SEP] ".join(parts)

    # ------------------------------------------------------------------ observation
    def _action_text(self, action: str) -> str:
        """What a policy reads for an action: a product click carries the product's title."""
        if self._page == "results" and action.startswith("click[b0"):
            asin = action[6:-1]
            for i in self._shown():
                if self.catalog.products[i].asin == asin:
                    item = self.catalog.products[i]
                    return f"{action} {item.title} $ {item.price:.2f}"
        return action

    def _obs(self) -> dict[str, np.ndarray]:
        mask = np.zeros(self.max_actions, dtype=np.int8)
        mask[: len(self._actions)] = 1
        tokens = np.zeros((self.max_actions, self.action_length), dtype=np.int64)
        for i, a in enumerate(self._actions):
            tokens[i] = self.vocab.encode(self._action_text(a), self.action_length)
        if not mask.any():  # never an empty choice set (check_env samples from the mask)
            mask[0] = 1
        assert self.goal is not None  # set by reset, before any observation
        return {
            "tokens": self.vocab.encode(self.page_text(), self.max_tokens),
            "action_mask": mask,
            "action_tokens": tokens,
            "instruction": self.vocab.encode(self.goal.instruction, self.INSTRUCTION_TOKENS),
        }

    def _info(self, valid: bool) -> dict[str, Any]:
        assert self.goal is not None
        return {
            "text": self.page_text(),
            "admissible_actions": list(self._actions),
            "is_action_valid": valid,
            "won": False,
            "instruction": self.goal.instruction,
            "page": self._page,
        }
