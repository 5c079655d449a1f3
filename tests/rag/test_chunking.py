import re

from apps.rag.chunking import chunk_sections, count_units
from apps.rag.extraction import Section
from apps.rag.lexical import jieba_tokens, segment


def words(n, start=0):
    return " ".join(f"w{i}" for i in range(start, start + n))


def test_short_section_is_one_chunk():
    [chunk] = chunk_sections([Section(text="Hello small world.", heading="H", page=2)], size=10, overlap=2)
    assert (chunk.text, chunk.token_count, chunk.heading, chunk.page) == ("Hello small world.", 3, "H", 2)


def test_long_text_is_cut_by_size_with_overlap_and_never_mid_word():
    text = words(25)
    chunks = chunk_sections([Section(text=text)], size=10, overlap=3)
    assert [c.text.split()[0] for c in chunks] == ["w0", "w7", "w14", "w21"]
    assert all(c.token_count <= 10 for c in chunks)
    assert chunks[0].text.split()[-3:] == chunks[1].text.split()[:3]
    vocabulary = set(text.split())
    assert all(set(c.text.split()) <= vocabulary for c in chunks)  # every piece is whole words


def test_paragraph_boundary_preferred_over_size():
    text = words(7) + "\n\n" + words(7, start=7)
    chunks = chunk_sections([Section(text=text)], size=10, overlap=0)
    assert chunks[0].text == words(7)
    assert chunks[1].text == words(7, start=7)


def test_sentence_boundary_preferred_when_no_paragraph():
    text = "one two three four five six seven. eight nine ten eleven twelve thirteen"
    chunks = chunk_sections([Section(text=text)], size=10, overlap=0)
    assert chunks[0].text.endswith("seven.")


def test_headings_and_pages_are_never_merged():
    chunks = chunk_sections(
        [Section(text="Alpha text.", heading="A"), Section(text="Beta text.", heading="B", page=3)], size=100, overlap=5
    )
    assert [(c.text, c.heading, c.page) for c in chunks] == [("Alpha text.", "A", None), ("Beta text.", "B", 3)]


def test_chinese_is_measured_in_characters_with_overlap_and_cut_between_words():
    text = "机器学习是人工智能的一个分支它使计算机能够从数据中学习"
    assert count_units(text) == len(text)
    # jieba: 机器 学习 是 人工智能 的 一个 分支 它 使 计算机 能够 从 数据 中 学习
    word_starts = {start for _, start, _ in jieba_tokens(text)} | {len(text)}
    chunks = chunk_sections([Section(text=text)], size=10, overlap=2)
    assert [c.text for c in chunks] == ["机器学习是人工智能的", "的一个分支它使计算机", "计算机能够从数据中", "中学习"]
    assert all(c.token_count == len(c.text) <= 10 for c in chunks)
    position = 0
    for previous, chunk in zip([None, *chunks], chunks, strict=False):
        start = text.index(chunk.text, max(position - 10, 0))
        assert start in word_starts and start + len(chunk.text) in word_starts  # no word is cut
        if previous is not None:
            assert 0 < position - start <= 3  # the overlap: about 2 characters, on a word boundary
        position = start + len(chunk.text)
    assert position == len(text)


def test_chinese_cut_prefers_sentence_ends():
    text = "深度学习使用多层神经网络。它学习数据的表示。"
    chunks = chunk_sections([Section(text=text)], size=16, overlap=0)
    assert [c.text for c in chunks] == ["深度学习使用多层神经网络。", "它学习数据的表示。"]


def test_mixed_chinese_and_english_units():
    assert count_units("GPU 加速 training") == 4


def test_jieba_segments_chinese_for_the_lexical_index():
    segmented = segment("机器学习是人工智能的一个分支")
    assert "机器" in segmented.split() and "人工智能" in segmented.split()
    assert segment("plain english stays") == "plain english stays"
    assert re.search(r"\s", segmented)
