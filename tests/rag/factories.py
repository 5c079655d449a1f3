import factory

from apps.core.roles import USER
from apps.rag.models import Answer, Chunk, Document, KnowledgeBase, Posting, Term
from apps.rag.services import knowledge_base_create
from tests.core.factories import UserFactory


class KnowledgeBaseFactory(factory.django.DjangoModelFactory):
    """Created through the service, so the base gets its HNSW index like in production."""

    class Meta:
        model = KnowledgeBase

    name = factory.Sequence(lambda n: f"Base {n}")
    owner = factory.SubFactory(UserFactory, role=USER)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        owner = kwargs.pop("owner")
        name = kwargs.pop("name")
        return knowledge_base_create(owner=owner, name=name, **kwargs)


class DocumentFactory(factory.django.DjangoModelFactory):
    """A bare document row (no file, no chunks); use the services to ingest real content."""

    class Meta:
        model = Document

    knowledge_base = factory.SubFactory(KnowledgeBaseFactory)
    title = factory.Sequence(lambda n: f"Document {n}")
    mime_type = "text/plain"
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    file = factory.LazyAttribute(lambda o: f"rag/none/{o.sha256[:16]}.txt")


class ChunkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Chunk

    document = factory.SubFactory(DocumentFactory)
    knowledge_base = factory.LazyAttribute(lambda o: o.document.knowledge_base)
    ordinal = factory.Sequence(lambda n: n)
    text = "Some chunk text."


class PostingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Posting

    chunk = factory.SubFactory(ChunkFactory)
    knowledge_base = factory.LazyAttribute(lambda o: o.chunk.knowledge_base)
    lexeme = "text"
    tf = 1
    chunk_length = 3


class TermFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Term

    knowledge_base = factory.SubFactory(KnowledgeBaseFactory)
    lexeme = factory.Sequence(lambda n: f"term{n}")
    df = 1


class AnswerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Answer

    question = "What is it?"
    text = "It is."
    mode = "extractive"
