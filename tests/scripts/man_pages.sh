#!/bin/sh
# The manual pages: man renders them without a warning, partmalloc(7) names
# every PARTMALLOC_* variable the library reads (src/options.c) and
# partmalloc(1) every option the command's subcommands accept (their --help).
BUILD=${BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# render PAGE: its text, in plain ASCII, and man's warnings in $tmp/warnings
render() {
    MANWIDTH=80 LC_ALL=C man --warnings -l "$1" 2>"$tmp/warnings"
}
for page in "$BUILD/man/partmalloc.1" "$BUILD/man/partmalloc.7"; do
    name=$(basename "$page")
    if [ ! -s "$page" ]; then echo "FAIL: $name built"; continue; fi
    render "$page" >"$tmp/$name.txt"
    if [ -s "$tmp/warnings" ]; then
        cat "$tmp/warnings"; echo "FAIL: man renders $name without warnings"
    else
        echo "PASS: man renders $name without warnings"
    fi
done

# A word is named when it stands whole in the text (not as part of a longer one).
named() { # WORD FILE
    grep -q -e "\(^\|[^A-Za-z0-9_-]\)$1\([^A-Za-z0-9_-]\|$\)" "$2"
}
vars=$(grep -o 'PARTMALLOC_[A-Z_]*' src/options.c | sort -u)
[ -n "$vars" ] || echo "FAIL: variables found in src/options.c"
for v in $vars; do
    if named "$v" "$tmp/partmalloc.7.txt"; then echo "PASS: partmalloc(7) names $v"; else echo "FAIL: partmalloc(7) names $v"; fi
done

for sub in run cc report stat; do
    opts=$("$BUILD/partmalloc" "$sub" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
    [ -n "$opts" ] || echo "FAIL: options found in partmalloc $sub --help"
    for o in $opts; do
        if named "$o" "$tmp/partmalloc.1.txt"; then
            echo "PASS: partmalloc(1) names $sub $o"
        else
            echo "FAIL: partmalloc(1) names $sub $o"
        fi
    done
done

# The control: a page without an option is caught by the same checks.
sed 's/--no-census/--no-kensus/g' "$BUILD/man/partmalloc.1" >"$tmp/bad.1"
render "$tmp/bad.1" >"$tmp/bad.1.txt"
if named --no-census "$tmp/bad.1.txt"; then echo "FAIL: a page without --no-census is caught"; else echo "PASS: a page without --no-census is caught"; fi
sed 's/PARTMALLOC\(\\*\)_STATS\(\\*\)_DIR/PARTMALLOC\1_STATS\2_DXR/g' "$BUILD/man/partmalloc.7" >"$tmp/bad.7"
render "$tmp/bad.7" >"$tmp/bad.7.txt"
if named PARTMALLOC_STATS_DIR "$tmp/bad.7.txt"; then echo "FAIL: a page without PARTMALLOC_STATS_DIR is caught"; else echo "PASS: a page without PARTMALLOC_STATS_DIR is caught"; fi
# and a warning is caught: a table wider than the line
sed 's/^lw(\([0-9.]*\)n)/lw(90n)/' "$BUILD/man/partmalloc.7" >"$tmp/wide.7"
render "$tmp/wide.7" >/dev/null
if [ -s "$tmp/warnings" ]; then echo "PASS: a table wider than the line is warned of"; else echo "FAIL: a table wider than the line is warned of"; fi
