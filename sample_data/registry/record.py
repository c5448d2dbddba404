"""Record how Apicurio Registry answers the requests lagwatch's adapter reads, into apicurio.json.

Run from the repository root with the devstack up (`eval "$(devstack/env)"`):
    python3 sample_data/registry/record.py
It uses unique subjects on the shared registry and deletes them, and starts a private registry
with Apicurio's default content cache for the one answer that needs it.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.private_registry import PrivateRegistry

OUT = Path(__file__).with_name("apicurio.json")
H = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
V1 = {"type": "record", "name": "OrderShipped", "fields": [{"name": "id", "type": "long"}]}
V2 = {**V1, "fields": [{"name": "id", "type": "long"}, {"name": "c", "type": "string"}]}


def main() -> None:
    url = os.environ.get("LAGWATCH_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7")
    root = url.removesuffix("/apis/ccompat/v7")
    s = f"lw-rec-{uuid.uuid4().hex[:6]}-value"
    got: dict[str, Any] = {}
    http = httpx.Client(timeout=30)

    def keep(
        name: str, method: str, path: str, body: Any = None, params: Any = None, base: str = url
    ) -> httpx.Response:
        answer = http.request(method, base + path, params=params, headers=H,
                              content=None if body is None else json.dumps(body))  # fmt: skip
        try:
            parsed: Any = answer.json()
        except ValueError:
            parsed = answer.text
        shown = path.replace(s, "{s}")
        got[name] = {
            "method": method,
            "path": shown,
            "params": params,
            "status": answer.status_code,
            "body": parsed,
        }
        return answer

    try:
        keep("system_info", "GET", "/apis/registry/v3/system/info", base=root)
        keep("global_config", "GET", "/config")
        keep(
            "config_unknown_subject",
            "GET",
            "/config/lw-nosuch-subject",
            params={"defaultToGlobal": "true"},
        )
        first = keep("register", "POST", f"/subjects/{s}/versions", {"schema": json.dumps(V1)})
        schema_id = first.json()["id"]
        keep("config_subject_plain", "GET", f"/config/{s}")
        keep(
            "config_subject_default_to_global",
            "GET",
            f"/config/{s}",
            params={"defaultToGlobal": "true"},
        )
        keep("register_incompatible", "POST", f"/subjects/{s}/versions", {"schema": json.dumps(V2)})
        keep("compatibility_verbose", "POST", f"/compatibility/subjects/{s}/versions/latest",
             {"schema": json.dumps(V2)}, params={"verbose": "true"})  # fmt: skip
        keep("config_set_none", "PUT", f"/config/{s}", {"compatibility": "NONE"})
        keep("config_delete_none", "DELETE", f"/config/{s}")
        keep("config_none_after_delete", "GET", f"/config/{s}", params={"defaultToGlobal": "true"})
        keep("mode_subject", "GET", f"/mode/{s}", params={"defaultToGlobal": "true"})
        keep("version", "GET", f"/subjects/{s}/versions/1")
        keep("schema_by_id", "GET", f"/schemas/ids/{schema_id}")
        keep("schema_versions", "GET", f"/schemas/ids/{schema_id}/versions")
        keep("schema_unknown_id", "GET", "/schemas/ids/2147000000")
        keep("json_schema_not_recognised", "POST", f"/subjects/{s.replace('-value', '-json')}/versions",
             {"schemaType": "JSON", "schema": json.dumps({"type": "object"})})  # fmt: skip
        keep("soft_delete", "DELETE", f"/subjects/{s}")
        keep("subjects_with_deleted", "GET", "/subjects", params={"deleted": "true"})
        keep("soft_deleted_versions", "GET", f"/subjects/{s}/versions")
        keep(
            "soft_deleted_versions_deleted",
            "GET",
            f"/subjects/{s}/versions",
            params={"deleted": "true"},
        )
        keep("soft_delete_again", "DELETE", f"/subjects/{s}")
        keep("permanent_delete", "DELETE", f"/subjects/{s}", params={"permanent": "true"})
        keep("schema_by_id_after_permanent_delete", "GET", f"/schemas/ids/{schema_id}")
    finally:
        http.delete(f"{url}/subjects/{s}")
        http.delete(f"{url}/subjects/{s}", params={"permanent": "true"})
    # Apicurio's default content cache: ids outlive a permanent delete.
    private = PrivateRegistry(content_cache=True)
    try:
        private.start()
        base = private.url
        answer = http.post(
            f"{base}/subjects/{s}/versions", headers=H, json={"schema": json.dumps(V1)}
        )
        cached_id = answer.json()["id"]
        http.get(f"{base}/schemas/ids/{cached_id}")  # read once: now the content cache holds it
        http.delete(f"{base}/subjects/{s}")
        http.delete(f"{base}/subjects/{s}", params={"permanent": "true"})
        keep(
            "cached_schema_by_id_after_permanent_delete",
            "GET",
            f"/schemas/ids/{cached_id}",
            base=base,
        )
        keep(
            "cached_schema_versions_after_permanent_delete",
            "GET",
            f"/schemas/ids/{cached_id}/versions",
            base=base,
        )
        keep("mode_readonly_set", "PUT", "/mode", {"mode": "READONLY"}, base=base)
        keep(
            "register_while_readonly",
            "POST",
            f"/subjects/{s}/versions",
            {"schema": json.dumps(V2)},
            base=base,
        )
    finally:
        private.close()
    OUT.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(got)} answers to {OUT}")


if __name__ == "__main__":
    main()
