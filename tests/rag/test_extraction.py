from pathlib import Path

import pytest

from apps.rag.extraction import ExtractionError, extract, mime_for, normalize_text

FIXTURES = Path(__file__).parent / "fixtures"


def sections_of(name):
    return extract((FIXTURES / name).read_bytes(), mime_type=mime_for(name), filename=name)


def test_pdf_is_extracted_per_page():
    sections = sections_of("sample.pdf")
    assert [s.page for s in sections] == [1, 2]
    assert "Flutter is a dynamic instability" in sections[0].text
    assert "boundary layer thickens" in sections[1].text


def test_docx_keeps_headings_and_table_rows():
    sections = sections_of("sample.docx")
    assert sections[0].heading == "Travel policy"
    assert "economy class" in sections[0].text
    hotels = [s for s in sections if s.heading == "Travel policy > Hotels"]
    assert hotels and "city limit" in hotels[0].text
    assert "City: Berlin; Limit: 150 EUR" in hotels[-1].text


def test_html_keeps_main_text_and_drops_scripts_styles_and_navigation():
    sections = sections_of("sample.html")
    text = "\n".join(s.text for s in sections)
    assert "impeller turns at 2900 rpm & moves water" in text
    assert [s.heading for s in sections] == ["Centrifugal pump", "Centrifugal pump > Maintenance"]
    for gone in ("do not index me", "tracking", "color: red", "Products", "Copyright"):
        assert gone not in text


def test_markdown_headings_build_a_path_and_code_fences_are_not_headings():
    sections = sections_of("sample.md")
    assert [s.heading for s in sections] == ["Onboarding", "Onboarding > Laptop", "Onboarding > Accounts"]
    assert "# not a heading inside code" in sections[1].text


def test_csv_and_json_rows_become_text():
    assert sections_of("sample.csv")[0].text.splitlines()[0] == "name: Ada; role: engineer; city: London"
    json_text = sections_of("sample.json")[0].text
    assert "product: Widget; price: 9.5; tags: blue, small" in json_text
    assert "specs.weight: 2kg" in json_text


def test_chinese_text_is_decoded():
    assert "机器学习是人工智能的一个分支" in sections_of("chinese.txt")[0].text


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("empty.txt", b"   \n ", "empty_document"),
        ("junk.txt", (FIXTURES / "junk.txt").read_bytes(), "binary_content"),
        ("corrupt.pdf", (FIXTURES / "corrupt.pdf").read_bytes(), "corrupt_document"),
        ("encrypted.pdf", (FIXTURES / "encrypted.pdf").read_bytes(), "encrypted_document"),
        ("fake.docx", b"this is not a zip file", "corrupt_document"),
        ("broken.json", b'{"a": ', "corrupt_document"),
    ],
)
def test_bad_files_raise_readable_errors(name, data, code):
    with pytest.raises(ExtractionError) as info:
        extract(data, mime_type=mime_for(name), filename=name)
    assert info.value.code == code
    assert info.value.message


def test_unsupported_extension():
    with pytest.raises(ExtractionError) as info:
        mime_for("slides.pptx")
    assert info.value.code == "unsupported_type"


def test_normalisation():
    raw = "Cafe\u0301\r\nfull\u3000width  \uff21\uff22\uff23\t tab\x07\n\n\n\nnext"
    assert normalize_text(raw) == "Café\nfull width ABC tab\n\nnext"
