"""Text hygiene and identifiers: the pieces every parser and search rely on."""

import pytest

from bot.corpus.text import (
    clean_text,
    join_hard_wrapped,
    paper_key,
    parse_arxiv_id,
    parse_arxiv_id_exact,
    title_hash,
    title_key,
)


@pytest.mark.parametrize(
    "written, expected",
    [
        ("2407.12773", ("2407.12773", None)),
        ("2407.12773v1", ("2407.12773", "v1")),
        ("arXiv:2407.12773", ("2407.12773", None)),
        ("ARXIV: 2407.12773V2", ("2407.12773", "v2")),
        ("https://arxiv.org/abs/2407.12773v2", ("2407.12773", "v2")),
        ("http://arxiv.org/pdf/2408.00874.pdf", ("2408.00874", None)),
        ("https://arxiv.org/pdf/2408.00874", ("2408.00874", None)),
        ("https://arxiv.org/abs/2501.01234?context=cs", ("2501.01234", None)),
        ("hep-th/9901001v3", ("hep-th/9901001", "v3")),
    ],
)
def test_arxiv_ids_in_every_written_form(written, expected):
    assert parse_arxiv_id(written) == expected
    assert parse_arxiv_id_exact(written) == expected


def test_exact_id_parsing_refuses_text_that_merely_contains_an_id():
    assert parse_arxiv_id("see 2407.12773 for details") == ("2407.12773", None)
    assert parse_arxiv_id_exact("see 2407.12773 for details") is None
    assert parse_arxiv_id_exact("segment anything 2024") is None
    assert parse_arxiv_id_exact("https://example.com/abs/2407.12773") is None


def test_clean_text_removes_invisible_and_control_characters_and_normalizes():
    dirty = "\ufeffSeg\u200bment\u202e any\u2066thing\u0007\r\nnext\tline"
    assert clean_text(dirty) == "Segment anything\nnext\tline"
    # NFC: a decomposed é becomes the composed character
    assert clean_text("Caf\u0065\u0301") == "Caf\u00e9"


def test_hard_wrapped_lines_join_with_spaces_and_keep_split_compounds():
    assert join_hard_wrapped(["A large multi-", "modal model  is", "", "  fast."]) == (
        "A large multi-modal model is fast."
    )


def test_title_identity_ignores_case_punctuation_and_width():
    assert title_key("POA: Pre-training Once for Models of All Sizes") == title_key(
        "poa  pre training once for models of all sizes"
    )
    assert title_hash("Ｍｅｄｉｃａｌ SAM 2") == title_hash("medical sam 2")
    assert title_hash("Medical SAM 2") != title_hash("Medical SAM 3")
    assert paper_key(None, "abc") == "t-abc" and paper_key("2407.12773", "abc") == "2407.12773"
