"""Brand colours: WCAG contrast, and the shade to suggest for one too light."""

from __future__ import annotations

import pytest

from kljourney import colors


@pytest.mark.parametrize(
    ("first", "second", "ratio"),
    [("#000", "#fff", 21.0), ("#777777", "#ffffff", 4.48), ("#1a4fa0", "#fff", 7.87)],
)
def test_contrast_as_wcag_defines_it(first: str, second: str, ratio: float) -> None:
    assert colors.contrast(first, second) == pytest.approx(ratio, abs=0.01)
    assert colors.contrast(second, first) == pytest.approx(ratio, abs=0.01)


def test_colours_are_written_one_way() -> None:
    assert colors.normal("#1A4FA0") == "#1a4fa0"
    assert colors.normal("#14a") == "#1144aa"
    for wrong in ("1a4fa0", "#1a4fa", "blue", "#ggg"):
        with pytest.raises(ValueError, match="expected a colour such as '#1a4fa0'"):
            colors.normal(wrong)


@pytest.mark.parametrize("light", ["#f5a623", "#ffcc00", "#777777", "#ffffff"])
def test_a_darker_shade_of_the_same_hue_is_suggested(light: str) -> None:
    shade = colors.darkened(light)
    assert colors.contrast(shade, "#ffffff") >= colors.AA_TEXT
    # The same hue: each channel scaled by one factor.
    red, green, blue = (int(light[i : i + 2], 16) for i in (1, 3, 5))
    dark = [int(shade[i : i + 2], 16) for i in (1, 3, 5)]
    factor = dark[0] / red if red else 0
    assert all(abs(d - c * factor) <= 1 for d, c in zip(dark, (red, green, blue), strict=True))


def test_a_colour_text_could_not_be_read_on_is_refused_with_a_better_one() -> None:
    with pytest.raises(ValueError) as refused:
        colors.readable_on_white("#f5a623", "the brand colour")
    assert str(refused.value) == (
        "the brand colour #f5a623 has a contrast of 2.0:1 with white; WCAG AA asks 4.5:1 "
        "for text, so it could not be read. Choose a darker colour, such as #9d6a16"
    )
    assert colors.readable_on_white("#1A4FA0", "the brand colour") == "#1a4fa0"
