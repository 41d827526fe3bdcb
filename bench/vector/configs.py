"""Index configurations as data (bench/vector/configs.toml): what is built, and what is
swept at query time on that one build.

A storage (vector, halfvec, bit) knows its index expression, operator class and the
SQL of a top-k search; a configuration pairs a method (ivfflat, hnsw) and its build
parameters with a storage and a sweep of one query-time parameter. Configurations that
resolve to the same index at a given row count (the review's lists = rows/1000 and
pgvector's rule agree below 1M rows) share one build.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from bench.core.errors import BenchError
from bench.core.schema import REFERENCE

CONFIGS_FILE = Path(__file__).with_name("configs.toml")
METHODS = {"ivfflat": {"build": {"lists"}, "iterative": ("off", "relaxed_order")},
           "hnsw": {"build": {"m", "ef_construction"}, "iterative": ("off", "strict_order", "relaxed_order")}}
ITERATIVE_GUC = {"ivfflat": "ivfflat.iterative_scan", "hnsw": "hnsw.iterative_scan"}
PGVECTOR_RULE_LIMIT = 1_000_000  # pgvector: lists = rows/1000 up to 1M rows, sqrt(rows) beyond


# ---- storages: how an embedding is indexed and searched ------------------------------------
@dataclass(frozen=True)
class Storage:
    name: str
    opclass: str
    description: str

    def index_expression(self, dim: int) -> str:
        return "embedding"

    def order_by(self, dim: int) -> str:
        return f"embedding <=> $1::vector({dim})"

    def search_sql(self, table: str, dim: int, k: int, where: str = "") -> str:
        """Top-k ids nearest to $1 (a vector); `where` may use $2 (a filter value)."""
        cond = f"WHERE {where} " if where else ""
        return f"SELECT id FROM {table} {cond}ORDER BY {self.order_by(dim)} LIMIT {k}"

    def gucs(self, param: str, value: int) -> tuple[tuple[str, str], ...]:
        return ((param, str(value)),)

    def query_args(self, param: str, value: int) -> tuple:
        return ()


@dataclass(frozen=True)
class HalfvecStorage(Storage):
    def index_expression(self, dim: int) -> str:
        return f"(embedding::halfvec({dim}))"

    def order_by(self, dim: int) -> str:
        return f"embedding::halfvec({dim}) <=> $1::vector({dim})::halfvec({dim})"


@dataclass(frozen=True)
class BitStorage(Storage):
    """Binary quantization: candidates by Hamming distance from the index, re-ranked by
    exact cosine distance. The swept `rerank` is the number of candidates ($3 in the SQL);
    hnsw.ef_search must be at least that for the index to return them all."""

    def index_expression(self, dim: int) -> str:
        return f"(binary_quantize(embedding)::bit({dim}))"

    def search_sql(self, table: str, dim: int, k: int, where: str = "") -> str:
        cond = f"WHERE {where} " if where else ""
        param = "$3" if "$2" in where else "$2"  # after the filter value, when there is one
        return (f"SELECT id FROM (SELECT id, embedding FROM {table} {cond}"
                f"ORDER BY binary_quantize(embedding)::bit({dim}) <~> binary_quantize($1::vector({dim})) "
                f"LIMIT {param}) candidates ORDER BY embedding <=> $1::vector({dim}) LIMIT {k}")

    def gucs(self, param: str, value: int) -> tuple[tuple[str, str], ...]:
        return (("hnsw.ef_search", str(max(40, value))),)

    def query_args(self, param: str, value: int) -> tuple:
        return (value,)


STORAGES: dict[str, Storage] = {
    "vector": Storage("vector", "vector_cosine_ops", "float32, 4 bytes per dimension"),
    "halfvec": HalfvecStorage("halfvec", "halfvec_cosine_ops", "float16 expression index, 2 bytes per dimension"),
    "bit": BitStorage("bit", "bit_hamming_ops", "binary quantization, 1 bit per dimension, re-ranked"),
}


# ---- configurations --------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """One point of a sweep: a query-time parameter value, as session settings and
    extra query arguments."""
    param: str
    value: int
    gucs: tuple[tuple[str, str], ...]
    query_args: tuple = ()

    @property
    def label(self) -> str:
        return f"{self.param.split('.')[-1]}={self.value}"


@dataclass(frozen=True)
class IndexConfig:
    name: str
    variant: str
    method: str
    storage: Storage
    build: dict
    sweep_param: str
    sweep_values: tuple[int, ...]
    iterative: tuple[str, ...]
    verdict: bool = False
    default: bool = True
    keep: bool = False  # compared in the interleaved phase even without a verdict
    note: str = ""

    def resolved_build(self, rows: int) -> dict:
        """Build parameters with rules (lists = "rows/1000", "pgvector") resolved."""
        out = dict(self.build)
        if isinstance(out.get("lists"), str):
            out["lists"] = lists_for(out["lists"], rows)
        return out

    def build_key(self, rows: int) -> tuple:
        """Equal keys = the same index (and the same sweep): built once."""
        return (self.method, self.storage.name, tuple(sorted(self.resolved_build(rows).items())),
                self.sweep_param, self.sweep_values)

    def index_ddl(self, table: str, index_name: str, dim: int, rows: int, predicate: str = "") -> str:
        """CREATE INDEX; a `predicate` true for every row makes it a partial index only
        queries repeating that predicate can use, so that several indexes on the same
        column can live side by side and each query picks its own."""
        params = ", ".join(f"{k} = {v}" for k, v in self.resolved_build(rows).items())
        return (f"CREATE INDEX {index_name} ON {table} USING {self.method} "
                f"({self.storage.index_expression(dim)} {self.storage.opclass}) WITH ({params})"
                + (f" WHERE {predicate}" if predicate else ""))

    def settings(self) -> list[Setting]:
        return [Setting(self.sweep_param, v, self.storage.gucs(self.sweep_param, v),
                        self.storage.query_args(self.sweep_param, v)) for v in self.sweep_values]

    def iterative_gucs(self, mode: str) -> tuple[tuple[str, str], ...]:
        return ((ITERATIVE_GUC[self.method], mode),)

    def describe(self, rows: int) -> dict:
        return {"name": self.name, "variant": self.variant, "verdict": self.verdict, "method": self.method,
                "storage": self.storage.name, "build": self.resolved_build(rows), "build_rule": self.build,
                "sweep": {"param": self.sweep_param, "values": list(self.sweep_values)},
                "iterative": list(self.iterative), "note": self.note}


def lists_for(rule: str, rows: int) -> int:
    if rule == "rows/1000":  # the review: GREATEST(1, doc_count / 1000), integer division
        return max(1, rows // 1000)
    if rule == "pgvector":
        return max(1, rows // 1000) if rows <= PGVECTOR_RULE_LIMIT else max(1, round(math.sqrt(rows)))
    raise BenchError(f"unknown lists rule {rule!r}; use a number, 'rows/1000' or 'pgvector'")


def _next_lists_change(rule: str, rows: int) -> int:
    """The smallest row count above `rows` at which `rule` gives another lists value."""
    if rule == "pgvector" and rows >= PGVECTOR_RULE_LIMIT:  # round(sqrt(r)) reaches the next integer
        return max(rows + 1, math.ceil((lists_for(rule, rows) + 0.5) ** 2))
    return max(2, rows // 1000 + 1) * 1000


def differs_from(a: IndexConfig, b: IndexConfig, rows: int, limit: int = 10**9) -> int | None:
    """For two configurations that build the same index at `rows`: the smallest row count
    above it at which they build different ones (None: the same entry under two names).
    Only lists rules depend on the row count, so only their change points are checked."""
    if _entry(a) == _entry(b):
        return None
    rules = {c.build["lists"] for c in (a, b) if isinstance(c.build.get("lists"), str)}
    while rules and rows < limit:
        rows = min(_next_lists_change(rule, rows) for rule in rules)
        if a.build_key(rows) != b.build_key(rows):
            return rows
    return None


def _entry(c: IndexConfig) -> tuple:
    return c.method, c.storage.name, tuple(sorted(c.build.items())), c.sweep_param, c.sweep_values


def same_index(a: IndexConfig, b: IndexConfig, rows: int, scales: dict[str, int]) -> dict | None:
    """Where `a` builds the same index as `b` at `rows`: the build, the smallest row count
    above at which they differ, and the named scales (seed/scales.toml documents) at which
    they differ with both builds. None when they differ at `rows` already."""
    if a.build_key(rows) != b.build_key(rows):
        return None
    return {"same_index_as": b.name, "rows": rows, "build": a.resolved_build(rows),
            "differ_from_rows": differs_from(a, b, rows),
            "differ_at_scales": [{"scale": name, "rows": n, "build": a.resolved_build(n),
                                  "other_build": b.resolved_build(n)}
                                 for name, n in scales.items() if a.build_key(n) != b.build_key(n)]}


@dataclass(frozen=True)
class Selectivity:
    name: str
    ranks: tuple[float, float]


@dataclass(frozen=True)
class Catalog:
    configs: tuple[IndexConfig, ...]
    targets: tuple[float, ...]
    verdict_target: float
    k: int
    truth_k: int
    build_settings: dict
    filtered_queries: int
    filtered_setting_target: float
    selectivities: tuple[Selectivity, ...]
    rls_settings: tuple[tuple[str, str], ...]
    rls_iterative: tuple[str, ...]
    interleave_max_bytes: int = 8 * 2**30
    builds: int = 1  # builds of each compared index (the reference and the verdict ones)
    interleave_passes: int = 1  # passes over the query batches in the interleaved phase
    interleave_rounds: int = 5  # the first this many query batches make the interleaved phase's rounds
    source: Path = field(default=CONFIGS_FILE, compare=False)

    def named(self, names: list[str] | tuple[str, ...]) -> list[IndexConfig]:
        """The configurations named (all defaults when none), in file order."""
        by_name = {c.name: c for c in self.configs}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise BenchError(f"unknown vector config {', '.join(unknown)}; known: {', '.join(by_name)}")
        return [c for c in self.configs if c.name in names] if names else [c for c in self.configs if c.default]

    def reference(self) -> IndexConfig:
        return next(c for c in self.configs if c.variant == REFERENCE and c.verdict)


def load(path: Path = CONFIGS_FILE) -> Catalog:
    with path.open("rb") as f:
        raw = tomllib.load(f)
    configs = tuple(_config(entry, path) for entry in raw.get("config", []))
    filtered, rls = raw.get("filtered", {}), raw.get("rls", {})
    catalog = Catalog(
        configs=configs, targets=tuple(float(t) for t in raw["targets"]), verdict_target=float(raw["verdict_target"]),
        k=int(raw["k"]), truth_k=int(raw["truth_k"]), build_settings=dict(raw.get("build_settings", {})),
        filtered_queries=int(filtered.get("queries", 25)),
        filtered_setting_target=float(filtered.get("setting_target", raw["verdict_target"])),
        selectivities=tuple(Selectivity(s["name"], (float(s["ranks"][0]), float(s["ranks"][1])))
                            for s in filtered.get("selectivities", [])),
        rls_settings=tuple((k, str(v)) for k, v in rls.get("settings", {}).items()),
        rls_iterative=tuple(rls.get("iterative", ("off",))),
        interleave_max_bytes=int(raw.get("interleave_max_mib", 8192)) * 2**20, builds=int(raw.get("builds", 1)),
        interleave_passes=int(raw.get("interleave_passes", 1)),
        interleave_rounds=int(raw.get("interleave_rounds", 5)), source=path)
    validate(catalog)
    return catalog


def _config(entry: dict, path: Path) -> IndexConfig:
    try:
        sweep = entry["sweep"]
        storage = STORAGES.get(entry.get("storage", "vector"))
        if storage is None:
            raise BenchError(f"{path.name}: config {entry.get('name')}: unknown storage {entry.get('storage')!r}; "
                             f"known: {', '.join(STORAGES)}")
        return IndexConfig(name=entry["name"], variant=entry["variant"], method=entry["method"], storage=storage,
                           build=dict(entry["build"]), sweep_param=sweep["param"],
                           sweep_values=tuple(int(v) for v in sweep["values"]),
                           iterative=tuple(entry.get("iterative", ("off",))), verdict=bool(entry.get("verdict", False)),
                           default=bool(entry.get("default", True)), keep=bool(entry.get("keep", False)),
                           note=entry.get("note", ""))
    except KeyError as exc:
        raise BenchError(f"{path.name}: config {entry.get('name', '?')} lacks {exc.args[0]!r}") from None


def validate(catalog: Catalog) -> None:
    """Every entry must make sense before anything is built; errors name the entry."""
    names = [c.name for c in catalog.configs]
    if len(set(names)) != len(names):
        raise BenchError(f"{catalog.source.name}: duplicate config names")
    if catalog.builds < 1:
        raise BenchError(f"{catalog.source.name}: builds must be at least 1, not {catalog.builds}")
    for name in ("interleave_passes", "interleave_rounds"):
        if getattr(catalog, name) < 1:
            raise BenchError(f"{catalog.source.name}: {name} must be at least 1, not {getattr(catalog, name)}")
    for c in catalog.configs:
        where = f"{catalog.source.name}: config {c.name}"
        if c.method not in METHODS:
            raise BenchError(f"{where}: unknown method {c.method!r}; known: {', '.join(METHODS)}")
        if set(c.build) != METHODS[c.method]["build"]:
            raise BenchError(f"{where}: {c.method} takes build parameters {sorted(METHODS[c.method]['build'])}")
        if isinstance(c.build.get("lists"), str):
            lists_for(c.build["lists"], 1000)  # a known rule
        values = list(c.sweep_values)
        if not values or any(v <= 0 for v in values) or values != sorted(set(values)):
            raise BenchError(f"{where}: sweep values must be positive and strictly increasing (cheapest first)")
        bad = [m for m in c.iterative if m not in METHODS[c.method]["iterative"]]
        if bad:
            raise BenchError(f"{where}: {c.method} has no iterative scan mode {', '.join(bad)}")
    if sum(1 for c in catalog.configs if c.variant == REFERENCE and c.verdict) != 1:
        raise BenchError(f"{catalog.source.name}: exactly one config of the reference variant ({REFERENCE}) must have verdict = true")
    if not catalog.targets or any(not 0 < t <= 1 for t in catalog.targets):
        raise BenchError(f"{catalog.source.name}: targets must be recall levels in (0, 1]")
    if catalog.verdict_target not in catalog.targets:
        raise BenchError(f"{catalog.source.name}: verdict_target must be one of the targets")
    if not 0 < catalog.k <= catalog.truth_k:
        raise BenchError(f"{catalog.source.name}: need 0 < k <= truth_k")
    for s in catalog.selectivities:
        if not 0 <= s.ranks[0] < s.ranks[1] <= 1:
            raise BenchError(f"{catalog.source.name}: selectivity {s.name}: ranks must satisfy 0 <= low < high <= 1")
