"""Demo data: a small public knowledge base of Cranfield aeronautics abstracts (a public-domain test collection)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model

from apps.core.roles import ADMIN

from .choices import Visibility
from .models import KnowledgeBase
from .services import document_create_text, knowledge_base_create

DEMO_NAME = "Aeronautics abstracts (demo)"
DATA = Path(__file__).parent / "demo_data" / "cranfield_sample.jsonl"


def seed(*, stdout: Any) -> None:
    owner = get_user_model().objects.filter(username=ADMIN).first()  # seed_demo names its users after their roles
    if owner is None:
        stdout.write(f"rag demo: no '{ADMIN}' user, skipped")
        return
    kb = KnowledgeBase.objects.filter(name=DEMO_NAME).first() or knowledge_base_create(
        owner=owner,
        name=DEMO_NAME,
        description="A handful of Cranfield collection abstracts (aerodynamics, boundary layers, flutter).",
        visibility=Visibility.EVERYONE,
    )
    created = 0
    for line in DATA.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        title = row["title"].rstrip(" .").capitalize()
        result = document_create_text(
            kb=kb, title=title[:300], text=row["text"], uploaded_by=owner, tags=["cranfield"],
            metadata={"cranfield_id": row["_id"]},
        )  # fmt: skip
        created += int(result.created)
    stdout.write(f"rag demo: '{DEMO_NAME}' has {kb.documents.count()} documents ({created} new)")
