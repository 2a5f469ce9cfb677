"""The model tree: a model's ancestry up to its roots, walked over `base_model` edges, bounded and cycle-safe.

Pure: the walk asks a loader (the service's database lookups) for the nodes of each generation. A base that is
not on this hub, or that the caller may not see, is a node marked `missing` and ends its branch; the walk stops
at MAX_DEPTH generations or MAX_ANCESTORS models (`truncated`), so neither a cycle (A's base is B, B's base is A)
nor a very deep or wide family makes it loop or grow without bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

MAX_DEPTH = 16
MAX_ANCESTORS = 256
MAX_PATHS = 64


@dataclass(frozen=True)
class BaseEdge:
    """The model derives from `id` (as its card spells it) by `relation`."""

    id: str
    relation: str

    @property
    def key(self) -> str:
        return self.id.lower()


@dataclass(frozen=True)
class TreeNode:
    """A model of the tree; a missing one (not on this hub, or not visible to the caller) has only its id."""

    id: str
    license: str = ""  # its effective license id ("" when the card states none)
    gated: bool = False
    missing: bool = False
    bases: tuple[BaseEdge, ...] = ()

    @property
    def key(self) -> str:
        return self.id.lower()

    @property
    def name(self) -> str:
        return self.id.partition("/")[2]


# Given the keys of one generation, the nodes found for them: a key absent from the answer is a missing model.
Loader = Callable[[set[str]], Mapping[str, TreeNode]]


@dataclass(frozen=True)
class Ancestry:
    """`model` and every model it derives from, nearest first; `via[key]` is the model through which the walk first
    reached `key` (its derivative on a shortest path to `model`)."""

    model: TreeNode
    ancestors: tuple[TreeNode, ...]
    depth: Mapping[str, int]
    via: Mapping[str, str]
    truncated: bool
    nodes: Mapping[str, TreeNode] = field(default_factory=dict)

    def path_from(self, key: str) -> tuple[str, ...]:
        """The ids from the ancestor `key` down to the model, along a shortest path."""
        path = [self.nodes[key].id]
        while key != self.model.key:
            key = self.via[key]
            path.append(self.nodes[key].id)
        return tuple(path)

    def parents(self) -> list[TreeNode]:
        """The model's direct bases, as nodes (missing ones included)."""
        return [self.nodes[edge.key] for edge in self.model.bases if edge.key in self.nodes]

    def cycles(self) -> list[tuple[str, ...]]:
        """Each cycle met going up, once, as ids from a model back to itself (`A, B, A`)."""
        found: list[tuple[str, ...]] = []
        done: set[str] = set()
        stack: list[str] = []

        def visit(key: str) -> None:
            stack.append(key)
            for edge in self.nodes[key].bases:
                if edge.key in stack:
                    cycle = [*stack[stack.index(edge.key) :], edge.key]
                    found.append(tuple(self.nodes[k].id for k in cycle))
                elif edge.key in self.nodes and edge.key not in done:
                    visit(edge.key)
            stack.pop()
            done.add(key)

        visit(self.model.key)
        return found

    def paths_to_roots(self) -> list[tuple[str, ...]]:
        """Every path from the model up to a root (a model with no base, or a missing one), at most MAX_PATHS;
        a path that meets a cycle ends where it would repeat a model."""
        paths: list[tuple[str, ...]] = []

        def climb(key: str, path: tuple[str, ...], seen: frozenset[str]) -> None:
            if len(paths) >= MAX_PATHS:
                return
            node = self.nodes[key]
            path += (node.id,)
            onward = [edge.key for edge in node.bases if edge.key in self.nodes and edge.key not in seen]
            if not onward:
                paths.append(path)
            for base in onward:
                climb(base, path, seen | {base})

        climb(self.model.key, (), frozenset({self.model.key}))
        return paths


def walk_ancestors(model: TreeNode, load: Loader) -> Ancestry:
    """Breadth first from `model` up its bases, one `load` per generation."""
    nodes: dict[str, TreeNode] = {model.key: model}
    depth: dict[str, int] = {model.key: 0}
    via: dict[str, str] = {}
    ancestors: list[TreeNode] = []
    generation = [model]
    truncated = False
    for level in range(1, MAX_DEPTH + 1):
        wanted = _unseen_bases(generation, nodes)
        if not wanted:
            break
        if len(ancestors) + len(wanted) > MAX_ANCESTORS:
            truncated = True
            wanted = dict(list(wanted.items())[: MAX_ANCESTORS - len(ancestors)])
        found = load(set(wanted))
        generation = []
        for key, (edge, child) in wanted.items():
            node = found.get(key) or TreeNode(edge.id, missing=True)
            nodes[key], depth[key], via[key] = node, level, child
            ancestors.append(node)
            generation.append(node)
        if truncated:
            break
    else:
        truncated = bool(_unseen_bases(generation, nodes))
    return Ancestry(model, tuple(ancestors), depth, via, truncated, nodes)


def _unseen_bases(generation: Iterable[TreeNode], nodes: Mapping[str, TreeNode]) -> dict[str, tuple[BaseEdge, str]]:
    """The bases of `generation` not met yet, each with the first edge naming it and the model it came from."""
    wanted: dict[str, tuple[BaseEdge, str]] = {}
    for node in generation:
        for edge in node.bases:
            if edge.key not in nodes and edge.key not in wanted:
                wanted[edge.key] = (edge, node.key)
    return wanted
