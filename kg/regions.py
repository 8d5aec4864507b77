"""Keeping one region of a national file: the départements of each region (COG 2026).

A mapping that declares ``#+ region: COLUMN`` (a column holding an INSEE commune code) skips,
when the build keeps one region (``kg build --region 28`` or a source option ``region = "28"``),
every row whose commune lies elsewhere, with the reason ``outside region NN`` in the build
report: the rows are read and counted, so ``read = loaded + quarantined + skipped`` still holds.
The table is the official one (régions since 2016; Mayotte 06 since 2011); it changes only
with a territorial reform.
"""

from __future__ import annotations

REGION_DEPARTEMENTS: dict[str, tuple[str, ...]] = {
    "01": ("971",),
    "02": ("972",),
    "03": ("973",),
    "04": ("974",),
    "06": ("976",),
    "11": ("75", "77", "78", "91", "92", "93", "94", "95"),
    "24": ("18", "28", "36", "37", "41", "45"),
    "27": ("21", "25", "39", "58", "70", "71", "89", "90"),
    "28": ("14", "27", "50", "61", "76"),
    "32": ("02", "59", "60", "62", "80"),
    "44": ("08", "10", "51", "52", "54", "55", "57", "67", "68", "88"),
    "52": ("44", "49", "53", "72", "85"),
    "53": ("22", "29", "35", "56"),
    "75": ("16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87"),
    "76": ("09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"),
    "84": ("01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74"),
    "93": ("04", "05", "06", "13", "83", "84"),
    "94": ("2A", "2B"),
}


def region_pattern(region: str) -> str:
    """A regular expression matching the INSEE commune codes of ``region``.

    >>> region_pattern("28")
    '^(14|27|50|61|76)[0-9]{3}$'
    >>> import re
    >>> bool(re.match(region_pattern("04"), "97411")), bool(re.match(region_pattern("94"), "2A004"))
    (True, True)
    >>> region_pattern("99")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown region code '99' (known: 01, 02, ..., 94)
    """
    deps = REGION_DEPARTEMENTS.get(region.strip())
    if deps is None:
        known = ", ".join(REGION_DEPARTEMENTS)
        raise ValueError(f"unknown region code {region!r} (known: {known})")
    width = 5 - len(deps[0])
    return f"^({'|'.join(deps)})[0-9]{{{width}}}$"
