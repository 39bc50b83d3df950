from kljourney.text import markdown


def test_renders_emphasis_lists_and_links():
    html = markdown(
        "Some **bold** and *soft* `code`.\n\n- one\n- two\n\n[docs](https://example.com/)"
    )
    assert "<strong>bold</strong>" in html
    assert "<em>soft</em>" in html
    assert "<code>code</code>" in html
    assert "<ul>\n<li>one</li>" in html
    assert '<a href="https://example.com/" rel="noopener noreferrer">docs</a>' in html


def test_script_is_removed_with_its_content():
    html = markdown("Hello <script>alert('x')</script> world")
    assert "<script" not in html
    assert "alert" not in html
    assert "Hello" in html and "world" in html


def test_event_handlers_and_unlisted_tags_are_removed():
    html = markdown('<img src="x" onerror="alert(1)"> <h1 onclick="x()">Big</h1> <b>b</b>')
    assert "onerror" not in html
    assert "onclick" not in html
    assert "<img" not in html and "<h1" not in html and "<b>" not in html
    assert "Big" in html


def test_javascript_links_lose_their_href():
    html = markdown("[click](javascript:alert(1))")
    assert "javascript:" not in html
    assert "click" in html


def test_result_is_markup_and_is_not_escaped_again():
    from jinja2 import Environment

    env = Environment(autoescape=True)
    assert env.from_string("{{ x }}").render(x=markdown("*a*")) == "<p><em>a</em></p>"
