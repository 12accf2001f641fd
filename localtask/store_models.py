"""The local model registry: model rows and which task used or made which model."""
from __future__ import annotations

import json
from typing import Any, Iterable

from .store_base import _now

MODEL_COLUMNS = ("id, task_id, name, project, framework, filename, uri, sha256, size, iteration, "
                 "config_text, config_dict, labels, tags, comment, published, created, updated")
#: columns :meth:`ModelQueries.update_model` may set.
MODEL_UPDATABLE = {"name", "project", "framework", "filename", "uri", "sha256", "size", "iteration",
                   "config_text", "config_dict", "labels", "tags", "comment", "published"}
_JSON_COLUMNS = ("config_dict", "labels", "tags")


def _model_dict(row: Any) -> dict[str, Any]:
    model = dict(row)
    for key in _JSON_COLUMNS:
        if isinstance(model.get(key), str):
            model[key] = json.loads(model[key])
    model["published"] = bool(model["published"])
    return model


def _encode(key: str, value: Any) -> Any:
    if key in _JSON_COLUMNS and value is not None:
        return json.dumps(value)
    if key == "published":
        return int(bool(value))
    return value


class ModelQueries:
    """Queries on the models and task_models tables (a mixin of Store)."""

    def add_model(self, row: dict[str, Any]) -> None:
        """Insert a model row (``id`` and ``name`` at least; ``created``/``updated`` default to now)."""
        now = _now()
        values = {"labels": {}, "tags": [], "comment": "", "project": "", "framework": "",
                  "published": False, **row}
        values.setdefault("created", now)
        values.setdefault("updated", now)
        keys = list(values)
        with self.transaction() as conn:
            conn.execute(f"INSERT INTO models({', '.join(keys)}) VALUES ({', '.join('?' * len(keys))})",
                         [_encode(k, values[k]) for k in keys])

    def update_model(self, model_id: str, **fields: Any) -> None:
        unknown = set(fields) - MODEL_UPDATABLE
        if unknown:
            raise ValueError(f"Not model columns: {sorted(unknown)}")
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields) + ", updated = ?"
        with self.transaction() as conn:
            conn.execute(f"UPDATE models SET {sets} WHERE id = ?",
                         [*(_encode(k, v) for k, v in fields.items()), _now(), model_id])

    def get_model(self, model_id: str) -> dict[str, Any] | None:
        row = self.one(f"SELECT {MODEL_COLUMNS} FROM models WHERE id = ?", (model_id,))
        return _model_dict(row) if row else None

    def find_models(self, *, project: str | None = None, name: str | None = None,
                    tags: Iterable[str] | None = None, only_published: bool = False,
                    limit: int | None = None) -> list[dict[str, Any]]:
        """Models, newest first; ``name`` matches exactly, ``tags`` must all be present."""
        where, params = [], []
        if project is not None:
            where.append("project = ?")
            params.append(project)
        if name is not None:
            where.append("name = ?")
            params.append(name)
        if only_published:
            where.append("published = 1")
        sql = f"SELECT {MODEL_COLUMNS} FROM models"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, rowid DESC"
        models = [_model_dict(r) for r in self.rows(sql, params)]
        wanted = [t for t in (tags or []) if t]
        if wanted:
            models = [m for m in models if all(t in m["tags"] for t in wanted)]
        return models[:limit] if limit else models

    def set_task_model(self, task_id: str, role: str, name: str, model_id: str) -> None:
        """Record ``model_id`` as the task's input or output model called ``name``."""
        if role not in ("input", "output"):
            raise ValueError(f"role must be 'input' or 'output', not {role!r}")
        with self.transaction() as conn:
            self._get(conn, task_id, "id")
            conn.execute("INSERT INTO task_models(task_id, role, name, model_id) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT(task_id, role, name) DO UPDATE SET model_id = excluded.model_id",
                         (task_id, role, name, model_id))

    def get_task_models(self, task_id: str) -> list[dict[str, Any]]:
        """Rows ``{role, name, model_id}`` of a task, by role then name."""
        return self.rows("SELECT role, name, model_id FROM task_models WHERE task_id = ? "
                         "ORDER BY role, name", (task_id,))
