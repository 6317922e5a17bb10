#!/bin/sh
# Writes a man page from the user guide, the one source of what the
# command and the options do:
#   sh docs/man/gen.sh PAGE.md VERSION SECTION... > page.N
# PAGE.md holds the page's title, NAME, SYNOPSIS and an opening paragraph;
# each SECTION is the number of a "## N. Title" section of docs/guide.md,
# copied with its headings raised one level (so it becomes a man section,
# its number left out)
# and its links to other documents reduced to their text (those are in
# FILES, docs/man/see-also.md, which ends every page).
set -e
command -v pandoc >/dev/null || { echo "gen.sh: pandoc is needed (Debian package pandoc)" >&2; exit 1; }
page=$1 version=$2
shift 2
{
    sed "s/@VERSION@/$version/" "$page"
    echo
    for n in "$@"; do
        awk -v n="$n" '
            /^## / { on = ($2 == n ".") }
            on' docs/guide.md
    done | sed -e 's/^## [0-9]*\. /# /' -e 's/^###/##/' \
               -e 's/\[\([^]]*\)\]([^)]*)/\1/g'
    cat docs/man/see-also.md
} | pandoc --from markdown --to man --standalone |
    # pandoc's tables span 70 ens; with man's indent (7), its margin and the gaps
    # between columns (3) that is wider than an 80-column terminal. Each is
    # scaled to what is left, in the proportions the guide's dashes give.
    perl -pe 'if (/^(lw\([0-9.]+n\) ?)+\.$/) {
        my @w = /lw\(([0-9.]+)n\)/g; my $sum = 0; $sum += $_ for @w;
        my $room = 69 - 3 * (@w - 1);
        $_ = join(" ", map { sprintf("lw(%.1fn)", $_ * $room / $sum) } @w) . ".\n";
    }'
