"""A model and its forward relations read by one SELECT, its SQL built once per process.

The ORM builds the SQL of a ``select_related`` query again on every call, which costs
more than the query itself on the hot paths (a scan at the gate). ``JoinedRead`` builds the
statement from the models' metadata once, then runs it with new values: the same columns
and joins as ``select_related`` (inner joins along non-null foreign keys, left joins
below a nullable one), and the same instances, related objects cached on them.
"""

import weakref
from dataclasses import dataclass

from django.db import connections
from django.db.models import Model


@dataclass
class _Node:
    model: type[Model]
    alias: str
    path: tuple[str, ...]  # relation names from the root
    fields: list
    parent: "_Node | None" = None
    relation: object = None  # the parent's foreign key to this model

    def __post_init__(self):
        self.attnames = [f.attname for f in self.fields]
        self.pk_index = self.fields.index(self.model._meta.pk)


class JoinedRead:
    def __init__(
        self, model: type[Model], related: list[str], *, extra: dict[str, str] | None = None, using="default"
    ):
        """``related``: paths as for ``select_related``; ``extra``: more columns, by the name
        they take on the root instance, as SQL that may name the root table as ``t0`` and
        take parameters (given to ``first``)."""
        self.model, self.using = model, using
        self._related = related
        self._extra = extra or {}
        self._nodes: list[_Node] | None = None
        self._statements: dict[tuple, str] = {}
        # Per connection (one per thread): the backend's converters are bound to it.
        self._converters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _plan(self) -> tuple[list[_Node], str]:
        if self._nodes is None:
            root = _Node(self.model, "t0", (), list(self.model._meta.concrete_fields))
            nodes, joins = [root], []
            by_path = {(): root}
            for path in self._related:
                names = tuple(path.split("__"))
                for depth in range(1, len(names) + 1):
                    if names[:depth] in by_path:
                        continue
                    parent = by_path[names[: depth - 1]]
                    field = parent.model._meta.get_field(names[depth - 1])
                    if not (field.concrete and (field.many_to_one or field.one_to_one)):
                        raise ValueError(f"JoinedRead follows foreign keys only, not {path!r}.")
                    child_model = field.related_model
                    node = _Node(
                        child_model,
                        f"t{len(nodes)}",
                        names[:depth],
                        list(child_model._meta.concrete_fields),
                        parent,
                        field,
                    )
                    outer = field.null or any(
                        n.relation is not None and n.relation.null for n in self._ancestors(parent)
                    )
                    joins.append(
                        f'{"LEFT OUTER" if outer else "INNER"} JOIN "{child_model._meta.db_table}" {node.alias} '
                        f'ON {node.alias}."{field.target_field.column}" = {parent.alias}."{field.column}"'
                    )
                    nodes.append(node)
                    by_path[names[:depth]] = node
            columns = ", ".join(
                [f'{n.alias}."{f.column}"' for n in nodes for f in n.fields] + list(self._extra.values())
            )
            table = self.model._meta.db_table
            # Names from the models' metadata; values only ever as parameters.
            self._select = f'SELECT {columns} FROM "{table}" t0 ' + " ".join(joins)  # noqa: S608
            self._nodes = nodes
        return self._nodes, self._select

    @staticmethod
    def _ancestors(node):
        while node is not None:
            yield node
            node = node.parent

    def _field(self, name):
        return self.model._meta.pk if name == "pk" else self.model._meta.get_field(name)

    def first(self, *, extra_params=(), **equal) -> Model | None:
        """The root row whose fields equal the given values, or None: for lookups by unique
        values, so no order is asked for. A value the field cannot hold raises ValueError or
        TypeError; an integer beyond the column's range finds nothing, as with the ORM."""
        nodes, select = self._plan()
        names = tuple(sorted(equal))
        sql = self._statements.get(names)
        if sql is None:
            where = " AND ".join(f't0."{self._field(n).column}" = %s' for n in names)
            sql = self._statements[names] = f"{select} WHERE {where} LIMIT 1"
        connection = connections[self.using]
        values = [self._field(n).get_db_prep_value(equal[n], connection) for n in names]
        for name, value in zip(names, values, strict=True):
            bounds = connection.ops.integer_field_ranges.get(self._field(name).get_internal_type())
            if bounds is not None and isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
                return None
        with connection.cursor() as cursor:
            cursor.execute(sql, [*extra_params, *values])
            row = cursor.fetchone()
        if row is None:
            return None
        found = self._build(nodes, row, connection)
        for name, value in zip(self._extra, row[len(row) - len(self._extra) :], strict=True):
            setattr(found, name, value)
        return found

    def _converters_for(self, nodes, connection) -> list:
        """Per node, the (index, column, converters) of the fields the backend or the field
        converts on the way in, as the ORM would."""
        found = self._converters.get(connection)
        if found is None:
            found = []
            for node in nodes:
                per_field = []
                for i, field in enumerate(node.fields):
                    column = field.get_col(node.alias)
                    converters = connection.ops.get_db_converters(column) + column.get_db_converters(
                        connection
                    )
                    if converters:
                        per_field.append((i, column, converters))
                found.append(per_field)
            self._converters[connection] = found
        return found

    def _build(self, nodes, row, connection):
        instances, start = {}, 0
        for node, converting in zip(nodes, self._converters_for(nodes, connection), strict=True):
            values = list(row[start : start + len(node.fields)])
            start += len(node.fields)
            for i, column, converters in converting:
                for convert in converters:
                    values[i] = convert(values[i], column, connection)
            instance = (
                None
                if values[node.pk_index] is None
                else node.model.from_db(self.using, node.attnames, values)
            )
            instances[node.path] = instance
            if node.parent is not None:
                parent = instances[node.parent.path]
                if parent is not None:
                    node.relation.set_cached_value(parent, instance)
        return instances[()]
