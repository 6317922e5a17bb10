"""Checks of a `partmalloc run/stat --html` page, for tests/scripts/html_page.sh.

    python3 html_page.py data PAGE TEXT   the page's data against the text histogram
    python3 html_page.py escaped PAGE     nothing from the program can end the data's element
    python3 html_page.py dom DOM          the page, as the browser left it, drew every bar
    python3 html_page.py png FILE         a PNG of more than one colour

Each prints what differs and exits 1 when a check fails.
"""
import json
import re
import struct
import sys
import zlib

DATA_OPEN = '<script type="application/json" id="data">'
ODD_TYPE = "Odd<'<', '&'>"


def fail(message):
    print(message)
    sys.exit(1)


def page_data(page_text):
    start = page_text.index(DATA_OPEN) + len(DATA_OPEN)
    return json.loads(page_text[start:page_text.index("</script>", start)])


def text_partitions(text):
    """{partition: (count, types column)} from the histogram's rows."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^kmalloc(?:-part-(\d+))?\s+(\d+)(?:\s+\+*\s*(.*))?$", line)
        if m:
            rows[int(m.group(1) or 0)] = (int(m.group(2)), m.group(3) or "")
    return rows


def text_groups(text):
    """{first partition: count} from the summary's group lines."""
    groups = {}
    for line in text.splitlines():
        m = re.match(r"^\s+(\d+) (?:allocations|objects) in (\d\d)(?:-\d\d)? ", line)
        if m:
            groups[int(m.group(2))] = int(m.group(1))
    return groups


CUT = " ..."


def text_shows(text_types, page_types):
    """The text's types column is the page's, or the page's cut the way the
    histogram cuts a long column to its width: a start, " ...", then the
    closing "no token" group kept whole (or nothing)."""
    if text_types == page_types:
        return True
    at = text_types.find(CUT)
    if at < 0:
        return False
    head, tail = text_types[:at], text_types[at + len(CUT):]
    return (len(head) + len(tail) < len(page_types) and page_types.startswith(head)
            and page_types.endswith(tail))


def check_data(page_path, text_path):
    data = page_data(open(page_path, encoding="utf-8").read())
    text = open(text_path, encoding="utf-8").read()
    rows = text_partitions(text)
    page_rows = {p["partition"]: (p["count"], p["types"]) for p in data["partitions"]}
    if len(rows) != data["config"]["partitions"] or set(rows) != set(page_rows):
        fail(f"partitions: text has {sorted(rows)}, page has {sorted(page_rows)}")
    for p, (count, types) in rows.items():
        if page_rows[p][0] != count:
            fail(f"partition {p}: text counts {count}, page {page_rows[p][0]}")
        if not text_shows(types.strip(), page_rows[p][1].strip()):
            fail(f"partition {p}: text types {types!r}, page {page_rows[p][1]!r}")
    if not any(ODD_TYPE in types for _, types in page_rows.values()):
        fail(f"no partition of the page names {ODD_TYPE}")
    page_groups = {g["first"]: g["count"] for g in data["groups"]}
    groups_expected = 3 if data["config"]["mode"] == "typed" else 0  # random mode has none
    if text_groups(text) != page_groups or len(page_groups) != groups_expected:
        fail(f"groups: text {text_groups(text)}, page {page_groups}")
    large = re.search(r"^large blocks: (\d+) live, .*, (\d+) allocated$", text, re.M)
    if not large or (int(large.group(1)), int(large.group(2))) != (
            data["large"]["active_blocks"], data["large"]["allocs"]):
        fail(f"large blocks: text {large and large.groups()}, page {data['large']}")
    print(f"{len(rows)} partitions, {groups_expected} groups and the large blocks agree")


def check_escaped(page_path):
    page = open(page_path, encoding="utf-8").read()
    data = page_data(page)
    if "</script" not in data["config"]["exe"]:
        fail(f"the program's path {data['config']['exe']!r} holds no </script")
    if page.count("</script") != 2:
        fail(f"{page.count('</script')} '</script' in the page, only the two elements' ends expected")
    if ODD_TYPE in page or "Quote<'\"'>" in page:
        fail("a type name appears unescaped in the page")
    print("the program's path and type names are escaped")


def check_dom(dom_path):
    dom = open(dom_path, encoding="utf-8").read()
    body = re.search(r"<body([^>]*)>", dom)
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1))) if body else {}
    error = re.search(r'<div id="error">(.*?)</div>', dom, re.S)
    if attrs.get("data-rendered") != "ok" or not error or error.group(1):
        fail(f"not rendered: body {attrs}, error {error and error.group(1)!r}")
    data = page_data(dom)  # a script's text is serialized as it is
    drawn = len(re.findall(r'<div class="bar [^"]*"[^>]*data-partition=', dom))
    if attrs.get("data-bars") != str(len(data["partitions"])) or drawn != len(data["partitions"]):
        fail(f"{attrs.get('data-bars')} bars counted, {drawn} drawn, {len(data['partitions'])} partitions")
    if "Odd&lt;'&lt;', '&amp;'&gt;" not in dom:
        fail(f"the page does not show {ODD_TYPE} as text")
    print(f"rendered, {drawn} bars, no script error")


def png_rows(path):
    """The PNG's rows of pixels (8-bit RGB or RGBA, not interlaced)."""
    blob = open(path, "rb").read()
    if blob[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path} is not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(blob):
        length, kind = struct.unpack(">I4s", blob[pos:pos + 8])
        body = blob[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        fail(f"{path}: depth {depth}, colour type {colour}, interlace {interlace} not handled")
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # undo the row's filter (PNG spec, section 9)
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def check_png(path):
    width, height, bpp, rows = png_rows(path)
    colours = {row[i:i + bpp] for row in rows for i in range(0, len(row), bpp)}
    if width == 0 or height == 0 or len(colours) < 2:
        fail(f"{path}: {width}x{height}, {len(colours)} colour(s)")
    print(f"{path}: {width}x{height}, {len(colours)} colours")


def check_cut():
    """The comparison takes the histogram's cut of a long column and
    nothing else: another count, a lost "no token" group, no cut."""
    page = "Odd<'<', '&'>: 50 | Quote<'\"'>: 30 | no token: 1"
    cases = [("Odd<'<', '&'>: 50 | Quote ... | no token: 1", True),
             ("Odd<'<', '&'> ...", True),
             ("Odd<'<', '&'>: 51 | Quote ... | no token: 1", False),
             ("Odd<'<', '&'>: 50 | Quote ... | no token: 2", False),
             ("Odd<'<', '&'>: 50 | Quote<'\"'>: 30", False),
             (page + CUT, False)]
    for text, shown in cases:
        if text_shows(text, page) != shown:
            fail(f"{text!r} taken as {'not ' if shown else ''}the column {page!r}")
    print(f"{len(cases)} columns, cut and not, compared as the histogram cuts them")


if __name__ == "__main__":
    checks = {"data": check_data, "escaped": check_escaped, "dom": check_dom, "png": check_png,
              "cut": check_cut}
    checks[sys.argv[1]](*sys.argv[2:])
