"""The model tree of a model as its caller may see it: ancestry up to the roots, direct children counted by
relation, and the license lineage flags of domain/license_lineage.py.

Edges come from the index (`model_bases`, written at every default-branch commit from the card's `base_model`
or inferred from the files). A base or child the caller may not see answers exactly like one that does not
exist: a base is shown as missing under the id its derivative's card spells, a child is not counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.db.models import ModelBase, Repo, RepoCard
from modelyard.domain.license_lineage import LicenseFlag, effective_license, license_flags
from modelyard.domain.model_ancestry import Ancestry, BaseEdge, TreeNode, walk_ancestors
from modelyard.domain.model_tree import RELATIONS
from modelyard.domain.repo_ids import RepoType
from modelyard.services.access import can_see
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor


@dataclass(frozen=True)
class ModelTree:
    ancestry: Ancestry
    children: dict[str, int]  # relation -> the model's direct children the caller can see, every relation present
    license_flags: list[LicenseFlag]


def model_tree(hub: Hub, actor: Actor | None, record: RepoRecord) -> ModelTree:
    """`record`'s tree; the caller was authorized to read `record` (the route's declared action)."""
    with hub.db.session() as session:
        ancestry = _ancestry(session, actor, record)
        children = _children_counts(session, actor, record)
    return ModelTree(ancestry, children, license_flags(ancestry))


def _ancestry(session: Session, actor: Actor | None, record: RepoRecord) -> Ancestry:
    def load(keys: set[str]) -> Mapping[str, TreeNode]:
        return _visible_nodes(session, actor, keys)

    model = load({record.ref.key}).get(record.ref.key) or TreeNode(record.ref.id)
    return walk_ancestors(model, load)


def _visible_nodes(session: Session, actor: Actor | None, keys: set[str]) -> dict[str, TreeNode]:
    """The models among `keys` the caller can see, with their license, gating and bases."""
    rows = session.scalars(select(Repo).where(Repo.type == RepoType.MODEL.value, Repo.id_key.in_(keys))).all()
    visible = {row.id: row for row in rows if can_see(actor, RepoRecord.of(row).target)}
    if not visible:
        return {}
    cards = {card.repo_id: card for card in session.scalars(select(RepoCard).where(RepoCard.repo_id.in_(visible)))}
    bases: dict[int, list[BaseEdge]] = {pk: [] for pk in visible}
    edges = select(ModelBase).where(ModelBase.repo_id.in_(visible)).order_by(ModelBase.repo_id, ModelBase.base_key)
    for edge in session.scalars(edges):
        bases[edge.repo_id].append(BaseEdge(edge.base_id, edge.relation))
    nodes = {}
    for pk, row in visible.items():
        card = cards.get(pk)
        license_id = effective_license(card.license, _license_name(card)) if card else ""
        node = TreeNode(f"{row.namespace}/{row.name}", license_id, bool(row.gated), bases=tuple(bases[pk]))
        nodes[node.key] = node
    return nodes


def _license_name(card: RepoCard) -> object:
    return card.card.get("license_name") if isinstance(card.card, dict) else None


def _children_counts(session: Session, actor: Actor | None, record: RepoRecord) -> dict[str, int]:
    counts = dict.fromkeys(RELATIONS, 0)
    children = (
        select(ModelBase.relation, Repo)
        .join(Repo, Repo.id == ModelBase.repo_id)
        .where(ModelBase.base_key == record.ref.key, Repo.type == RepoType.MODEL.value, Repo.id != record.pk)
    )
    # Public children are counted by the database; the few private ones go one by one through the policy.
    public = children.with_only_columns(ModelBase.relation, func.count()).where(Repo.private.is_(False))
    for relation, count in session.execute(public.group_by(ModelBase.relation)):
        counts[relation] = counts.get(relation, 0) + count
    for relation, row in session.execute(children.where(Repo.private.is_(True))):
        if can_see(actor, RepoRecord.of(row).target):
            counts[relation] = counts.get(relation, 0) + 1
    return counts
