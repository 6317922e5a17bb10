#!/bin/sh
# `partmalloc run --html` and `partmalloc stat --html` write a page whose data
# is the text histogram's, with the program's strings escaped, that a headless
# browser (Debian's chromium) draws without a script error: one bar per
# partition, a screenshot of more than one colour. Controls show each check
# can fail. Without chromium this fails: tools/setup.sh installs it.
BUILD=${BUILD:-build}
tool="$BUILD/partmalloc"
check="python3 tests/scripts/html_page.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS: $*"; }
failed() { echo "FAIL: $*"; }

if ! command -v chromium >/dev/null; then
    failed "chromium is not installed (apt-get install -y chromium; tools/setup.sh does it)"
    exit 1
fi
browse() { # browse FILE CHROMIUM-ARGS...
    browsed=$1
    shift
    timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/profile" "$@" "$browsed" 2>>"$tmp/chromium.log"
}

# The program lives under a directory whose name holds "</script>": its path
# is in the page too.
dir="$tmp/x</script>"
mkdir -p "$dir"
prog="$dir/odd_names"
if ! "$tool" c++ -std=c++17 -O1 -g tests/helpers/odd_names.cc -o "$prog" >"$tmp/cc.log" 2>&1; then
    cat "$tmp/cc.log"
    failed "partmalloc c++ builds tests/helpers/odd_names.cc"
    exit 1
fi

# run: the page, the program's status passed on, the data the text's.
"$tool" run --html "$tmp/run.html" -- "$prog" >/dev/null 2>"$tmp/run.txt"
rc=$?
[ "$rc" -eq 3 ] && pass "run --html passes the program's exit status on (3)" || failed "run --html exited $rc, not 3"
if [ -s "$tmp/run.html" ] && $check data "$tmp/run.html" "$tmp/run.txt"; then
    pass "run --html: the page's data is the text histogram's"
else
    cat "$tmp/run.txt"
    failed "run --html: the page's data is the text histogram's"
fi
$check escaped "$tmp/run.html" && pass "run --html escapes the program's strings" || failed "run --html escapes the program's strings"
grep -q '<script src\|<link\|https\?://' "$tmp/run.html" &&
    failed "the page refers to something outside itself" || pass "the page refers to nothing outside itself"

# A long types column is cut in the text (random mode can put every site
# of the program in one partition): the comparison takes that cut only.
if out=$($check cut); then pass "the text's cut of a long types column: $out"
else echo "$out"; failed "the text's cut of a long types column"; fi

# Random mode: no groups, the same bars.
"$tool" run --mode random --html "$tmp/random.html" -- "$prog" >/dev/null 2>"$tmp/random.txt"
if $check data "$tmp/random.html" "$tmp/random.txt"; then
    pass "run --mode random --html: the page's data is the text histogram's"
else
    cat "$tmp/random.txt"
    failed "run --mode random --html: the page's data is the text histogram's"
fi

# stat of a live process, started as run starts its program.
PARTMALLOC_STATS_SIGNAL=USR2 LD_PRELOAD="$BUILD/stats/libpartmalloc.so" "$prog" wait >"$tmp/ready" &
pid=$!
for _ in $(seq 50); do grep -q ready "$tmp/ready" && break; sleep 0.1; done
"$tool" stat --html "$tmp/stat.html" "$pid" >"$tmp/stat.txt" 2>"$tmp/stat.err"
rc=$?
kill "$pid"
wait "$pid" 2>/dev/null
if [ "$rc" -eq 0 ] && $check data "$tmp/stat.html" "$tmp/stat.txt"; then
    pass "stat --html PID: the page's data is the text histogram's"
else
    cat "$tmp/stat.txt" "$tmp/stat.err"
    failed "stat --html PID (exit $rc): the page's data is the text histogram's"
fi

# The browser: the script ran to its end and drew a bar per partition.
for page in run random stat; do
    if browse "$tmp/$page.html" --dump-dom >"$tmp/$page.dom" && $check dom "$tmp/$page.dom"; then
        pass "chromium draws the $page page without a script error"
    else
        tail -5 "$tmp/chromium.log"
        failed "chromium draws the $page page without a script error"
    fi
done
if browse "$tmp/run.html" --screenshot="$tmp/run.png" --window-size=1200,900 >/dev/null && $check png "$tmp/run.png"; then
    pass "chromium's screenshot of the page has more than one colour"
else
    failed "chromium's screenshot of the page has more than one colour"
fi

# Controls: a broken script, a count changed in the data, a one-colour PNG.
sed 's/draw(JSON.parse(/draw(undefinedName, JSON.parse(/' "$tmp/run.html" >"$tmp/broken.html"
browse "$tmp/broken.html" --dump-dom >"$tmp/broken.dom"
if ! $check dom "$tmp/broken.dom" >"$tmp/broken.out" && grep -q "undefinedName" "$tmp/broken.dom"; then
    pass "control: a page whose script fails is caught ($(cat "$tmp/broken.out"))"
else
    failed "control: a page whose script fails is caught"
fi
sed 's/\\u003c/</g' "$tmp/run.html" >"$tmp/unescaped.html"
if ! $check escaped "$tmp/unescaped.html" >/dev/null; then
    pass "control: a page with a type name left unescaped is caught"
else
    failed "control: a page with a type name left unescaped is caught"
fi
sed 's/"count":50,/"count":51,/' "$tmp/run.html" >"$tmp/miscounted.html"
if ! cmp -s "$tmp/run.html" "$tmp/miscounted.html" && ! $check data "$tmp/miscounted.html" "$tmp/run.txt" >/dev/null; then
    pass "control: a page whose count differs from the text is caught"
else
    failed "control: a page whose count differs from the text is caught"
fi
python3 -c '
import struct, sys, zlib
def chunk(kind, body): return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
rows = b"".join(b"\0" + b"\xff\xff\xff" * 8 for _ in range(8))
sys.stdout.buffer.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)) +
                        chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))' >"$tmp/white.png"
$check png "$tmp/white.png" >/dev/null && failed "control: a one-colour PNG is caught" || pass "control: a one-colour PNG is caught"

# Bad input names the option; run refuses it before starting the program
# (which would exit 3), so that a long run does not end without its page.
"$tool" run --html "$tmp/no/such/dir/page.html" -- "$prog" >/dev/null 2>"$tmp/bad.txt"
rc=$?
if [ "$rc" -eq 1 ] && grep -qx "partmalloc run: --html: cannot write '$tmp/no/such/dir/page.html': No such file or directory (the program was not started)" "$tmp/bad.txt"; then
    pass "run --html to an unwritable path says so before the program starts"
else
    cat "$tmp/bad.txt"
    failed "run --html to an unwritable path (exit $rc)"
fi
"$tool" run --stats json -- "$prog" 2>"$tmp/dump.json" >/dev/null
"$tool" stat --html "$tmp/no/such/dir/page.html" "$tmp/dump.json" >/dev/null 2>"$tmp/bad.txt"
rc=$?
if [ "$rc" -eq 1 ] && grep -qx "partmalloc stat: --html: cannot write '$tmp/no/such/dir/page.html': No such file or directory" "$tmp/bad.txt"; then
    pass "stat --html to an unwritable path says so and exits 1"
else
    cat "$tmp/bad.txt"
    failed "stat --html to an unwritable path (exit $rc)"
fi
