"""Hostile links: whatever a shared address carries, the app answers with a sentence.

A link's parameters are text from a stranger. The properties checked here: no page raises; every
error box shows its text literally (each Markdown character escaped, so a link cannot put an
image or a link of its own on the page) and stays short; and a link that draws no message opens
exactly the design it describes, with an address that still describes it: the Designer's
controls never clamp a linked value into a different design without a word.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from inspector import PRESETS, get_preset
from inspector.spec import MAX_CLASSES, MAX_ECHO, ResNetSpec, parse_field
from pages.common import SPEC_FIELDS, WORD_JOINER, escape_markdown, spec_from_query

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120  # seconds for one run: the first one imports torch
#: An error box is a sentence or two plus quoted values of at most MAX_ECHO characters each.
MAX_MESSAGE = 600
_MARKS = re.escape(string.punctuation)
_ESCAPED = re.compile(f"(?:\\\\[{_MARKS}]|[^{_MARKS}])*")

# ----- what a stranger may type into an address ---------------------------------------------

MARKUP = ["![t](http://host/x.png)", "[evil](http://host/evil)", "<img src=x onerror=alert(1)>",
          "**bold**", "# heading", ":red[alarm]", "$x^2$", "`code`", "| a | b |\n|---|---|"]
#: Text a URL can carry (no lone surrogates: they cannot be encoded as UTF-8 in an address).
url_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
huge_numbers = st.integers(20, 400).map(lambda digits: "9" * digits)
#: Streamlit drops a query string over 512 KiB whole; below that, the value reaches our code.
LONG = 500_000
long_text = st.integers(201, LONG // 25).map(lambda size: "x" * size)
number_lists = st.lists(st.integers(-5, 2000), min_size=0, max_size=8).map(
    lambda items: ",".join(map(str, items)))
values = st.one_of(url_text, huge_numbers, long_text, number_lists, st.sampled_from(MARKUP),
                   st.integers(-10, 300_000).map(str),
                   st.sampled_from(["true", "false", "auto", "1x1", "3x3", "cifar", "D", ""]))
keys = st.one_of(st.sampled_from([*SPEC_FIELDS, "preset"]), st.sampled_from(MARKUP), url_text)
links = st.one_of(
    st.dictionaries(keys, values, max_size=4),
    st.fixed_dictionaries({"preset": st.sampled_from(list(PRESETS))},
                          optional={name: values for name in SPEC_FIELDS}),
)

# The audit's findings, each an explicit example below.
AUDIT_LINKS = [
    {"![t](http://host/x.png)": "1"},
    {"stem": "[evil](http://host/evil)"},
    {"stem": "x" * LONG},  # the audit's was 50 MB, which Streamlit now drops before we see it
    *({field: "9" * 300} for field in ("num_classes", "expansion", "groups", "width_per_group")),
    {"preset": "resnet20", "layers": "201,1,1"},
    {"num_classes": "200000"},
    {"in_channels": "100"},
    {"groups": "1100"},
    {"preset": "[evil](http://host/evil)"},
]


#: Parameters Streamlit keeps for itself: pages never see them, the address keeps them.
STREAMLIT_KEYS = ("embed", "embed_options")


def ours(query: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in query.items() if key not in STREAMLIT_KEYS}


def with_audit_examples(test):
    """The audit's links, tried first on every run of a property."""
    for link in AUDIT_LINKS:
        test = example(link)(test)
    return test


def escaped(markdown: str) -> bool:
    """Whether every Markdown character in `markdown` is backslash-escaped (so shown literally)."""
    return _ESCAPED.fullmatch(markdown) is not None


def shown_text(markdown: str) -> str:
    """What a reader sees: escapes resolved, the invisible word joiners gone."""
    return re.sub(r"\\(.)", r"\1", markdown).replace(WORD_JOINER, "")


#: Where GFM would start an autolink in escaped text: a scheme's colon, `www.`, an email's @.
AUTOLINK = re.compile(r"(?i)(?:https?|ftps?|mailto|xmpp)\\:|\bwww\\\.|\w\\@")


def linked_design(link: dict[str, str]) -> ResNetSpec:
    """The design a link describes, from the field parser alone (no page involved); a basic
    block carries the default stride placement (it has no 1x1 to put a stride on)."""
    preset = link.get("preset", "resnet50")
    changes = {key: parse_field(key, text) for key, text in link.items() if key != "preset"}
    spec = get_preset(preset).replace(**changes).validate()
    return spec.replace(stride_in=ResNetSpec().stride_in) if spec.block == "basic" else spec


def open_link(link: dict[str, str]) -> tuple[AppTest, list[str]]:
    """The app opened on `link` (as a browser does), then the Designer; the first run's errors.

    The first run is where app.py reports what was wrong with the link, whichever page is shown.
    """
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params = dict(link)
    at.run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    at.switch_page("pages/designer.py").run()
    assert not at.exception, at.exception
    return at, errors


def assert_safe_messages(messages: list[str]) -> None:
    for message in messages:
        assert escaped(message), f"unescaped Markdown in {message[:200]!r}"
        assert len(message) <= MAX_MESSAGE, f"{len(message):,}-character message"


# ----- the explicit findings ----------------------------------------------------------------


def test_a_link_cannot_put_an_image_or_a_link_on_the_page():
    for link, typed in (({"![t](http://host/x.png)": "1"}, "![t](http://host/x.png)"),
                        ({"stem": "[evil](http://host/evil)"}, "[evil](http://host/evil)")):
        _, errors = open_link(link)
        assert errors, link
        assert_safe_messages(errors)
        assert typed not in " ".join(errors)  # the raw markup is not in the page's source...
        assert typed in shown_text(" ".join(errors))  # ...but the reader sees what was typed


def test_a_bare_url_in_a_link_is_never_a_link_in_the_message():
    """GFM turns `http://...`, `www.` and `a@b.co` into links even with every mark escaped."""
    typed = "http://evil.example/x"
    for link in ({"preset": typed}, {"stem": f"www.evil.example or me@evil.example {typed}"}):
        _, errors = open_link(link)
        assert errors, link
        assert_safe_messages(errors)
        assert not AUTOLINK.search(" ".join(errors)), errors
        assert all(part in shown_text(" ".join(errors)) for part in link.values()
                   if len(part) < 60)


def test_escape_markdown_breaks_every_autolink_start_and_nothing_else():
    text = "see http://a.example/x, HTTPS://b, www.c.example, me@d.example, mailto:e and ftp://f"
    shown = escape_markdown(text)
    assert not AUTOLINK.search(shown) and shown_text(shown) == text
    assert shown.count(WORD_JOINER) == 6
    plain = "Like resnet18, with: input 64x64; this file. The value 'x'."
    assert WORD_JOINER not in escape_markdown(plain)


def test_a_huge_value_comes_back_as_a_short_quote():
    _, errors = open_link({"stem": "x" * LONG})
    (message,) = errors
    assert f"{LONG:,} characters" in shown_text(message)
    assert shown_text(message).count("x") <= MAX_ECHO


def test_300_digit_numbers_are_messages_on_every_page():
    for field in ("num_classes", "expansion", "groups", "width_per_group"):
        at, errors = open_link({field: "9" * 300})
        assert any(field in shown_text(e) for e in errors), (field, errors)
        assert at.session_state["design"] == get_preset("resnet50"), field


def test_blocks_beyond_the_sliders_reach_keep_their_count():
    at, errors = open_link({"preset": "resnet20", "layers": "201,1,1"})
    assert not errors and not at.error
    assert at.slider(key="d_blocks_0").value == 201
    assert at.session_state["design"].layers == (201, 1, 1)
    assert dict(at.query_params) == {"preset": "resnet20", "layers": "201,1,1"}


def test_linked_values_outside_the_old_widget_ranges_are_kept_or_reported():
    kept = {"num_classes": 200_000, "in_channels": 100}
    for field, value in kept.items():
        at, errors = open_link({field: str(value)})
        assert not errors and not at.error, (field, errors)
        assert getattr(at.session_state["design"], field) == value
        assert at.query_params[field] == str(value)  # the address still says so
    # 1100 groups of 64 channels make a 22-billion-parameter ResNet-50: refused, and said so.
    at, errors = open_link({"groups": "1100"})
    assert any("billion parameters" in shown_text(e) and "instead" in shown_text(e)
               for e in errors), errors
    assert at.session_state["design"] == get_preset("resnet50")
    # Past the limit, the number of classes is refused with the limit named.
    _, errors = open_link({"num_classes": str(MAX_CLASSES + 1)})
    assert any(f"{MAX_CLASSES:,}" in shown_text(e) for e in errors), errors


def test_the_groups_help_explains_width_per_group():
    at, _ = open_link({"preset": "resnext50_32x4d"})
    help_text = at.number_input(key="d_groups").help
    assert "32 x 4 = 128" in help_text and "ResNeXt 32x4d" in help_text
    at.number_input(key="d_groups").set_value(2)
    at.number_input(key="d_width_per_group").set_value(64).run()
    assert "2 x 64 = 128" in at.number_input(key="d_groups").help
    at.selectbox(key="d_preset").set_value("resnet18").run()
    at.number_input(key="d_groups").set_value(2).run()
    assert "shrink 2x" in at.number_input(key="d_groups").help


# ----- properties over generated links ------------------------------------------------------


@with_audit_examples
@settings(max_examples=300, deadline=None)
@given(links)
def test_the_link_reader_returns_a_valid_design_and_short_sentences(link):
    spec, preset, messages = spec_from_query(link)
    assert spec.validate() is spec and preset in PRESETS
    for message in messages:
        assert len(message) <= MAX_MESSAGE and message.endswith("."), message
    if not messages:
        assert spec == linked_design(link)


@with_audit_examples
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(links)
@example({"embed": "true", "embed_options": "[evil](http://host/evil)"})
def test_any_link_opens_the_designer_with_its_design_or_a_message(link):
    at, errors = open_link(link)
    assert_safe_messages(errors + [e.value for e in at.error])
    if errors:
        return
    design = linked_design(ours(link))
    assert at.session_state["design"] == design
    # The address the Designer leaves describes the same design (it may drop values equal to
    # the preset's, never change one).
    again, _, again_messages = spec_from_query(ours(dict(at.query_params)))
    assert not again_messages and again == design


def test_escape_markdown_leaves_plain_words_and_escapes_every_mark():
    assert escape_markdown("plain words 123") == "plain words 123"
    assert escape_markdown("![t](u)") == "\\!\\[t\\]\\(u\\)"
    assert escape_markdown("two\n\nparagraphs") == "two paragraphs"
