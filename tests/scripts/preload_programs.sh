#!/bin/sh
# Real programs from Debian under LD_PRELOAD=libpartmalloc.so, in each mode
# (typed, random, none): python3, perl and a git session on a generated
# repository must print exactly what they print without partmalloc, exit
# the same way, and write no "partmalloc:" line to stderr.
# Run from the project root with $BUILD set; prints PASS:/FAIL: per check.
BUILD=${BUILD:-build}
lib=$(cd "$BUILD" 2>/dev/null && pwd)/libpartmalloc.so
if [ ! -f "$lib" ]; then
    echo "FAIL: $BUILD/libpartmalloc.so is missing"
    exit 1
fi
PYTHON=/usr/bin/python3
PERL=/usr/bin/perl
GIT=/usr/bin/git
tmp=$(mktemp -d)
trap '[ -n "$PM_KEEP_TMP" ] || rm -rf "$tmp"' EXIT INT TERM
# Everything that could vary between two runs is pinned.
LC_ALL=C TZ=UTC PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0
export LC_ALL TZ PYTHONHASHSEED PYTHONDONTWRITEBYTECODE PERL_HASH_SEED PERL_PERTURB_KEYS
unset PYTHONMALLOC LD_PRELOAD PARTMALLOC_MODE PARTMALLOC_PARTITIONS

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; }

# run NAME ENV... -- CMD...: runs with the extra environment; stdout to
# $tmp/NAME.out, stderr to $tmp/NAME.err, exit status to $tmp/NAME.rc.
run() {
    name=$1; shift
    set -- env "$@"
    # turn the "--" separator into nothing: env takes NAME=value then the command
    args=""
    for a in "$@"; do
        [ "$a" = "--" ] && continue
        args="$args '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"
    done
    eval "$args" >"$tmp/$name.out" 2>"$tmp/$name.err"
    echo $? >"$tmp/$name.rc"
}

# compare LABEL BASE NAME: NAME's output and status against BASE's, and
# NAME's stderr free of partmalloc reports.
compare() {
    label=$1 base=$2 name=$3
    if cmp -s "$tmp/$base.out" "$tmp/$name.out" && cmp -s "$tmp/$base.rc" "$tmp/$name.rc" &&
       [ "$(cat "$tmp/$base.rc")" = 0 ] && [ -s "$tmp/$base.out" ]; then
        pass "$label: same output"
    else
        echo "exit status: without $(cat "$tmp/$base.rc"), with $(cat "$tmp/$name.rc")"
        diff "$tmp/$base.out" "$tmp/$name.out" | head -20
        tail -n 5 "$tmp/$name.err"
        fail "$label: same output"
    fi
    if grep -q "partmalloc:" "$tmp/$name.err"; then
        grep "partmalloc:" "$tmp/$name.err" | head -5
        fail "$label: no partmalloc report on stderr"
    else
        pass "$label: no partmalloc report on stderr"
    fi
}

MODES="typed random none"

# ---- partmalloc is really the allocator of the preloaded programs ----

cat >"$tmp/active.py" <<'EOF'
import ctypes, sys
me = ctypes.CDLL(None)
class Config(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("partitions", ctypes.c_uint), ("token_max", ctypes.c_uint64),
                ("num_size_classes", ctypes.c_uint), ("max_small_size", ctypes.c_size_t),
                ("cache_region_size", ctypes.c_size_t)]
class Info(ctypes.Structure):
    _fields_ = [("is_small", ctypes.c_int), ("kind", ctypes.c_int), ("live", ctypes.c_int), ("size_class", ctypes.c_uint),
                ("partition", ctypes.c_uint), ("object_size", ctypes.c_size_t), ("start", ctypes.c_void_p),
                ("cache_name", ctypes.c_char * 32)]
c = Config()
me.pm_get_config(ctypes.byref(c))
me.malloc.restype = ctypes.c_void_p
me.malloc.argtypes = [ctypes.c_size_t]
me.free.argtypes = [ctypes.c_void_p]
me.pm_ptr_info.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
p = me.malloc(100)
i = Info()
ours = me.pm_ptr_info(p, ctypes.byref(i))
me.free(p)
print(["typed", "random", "none"][c.mode], ours, i.live)
EOF
if [ -x "$PYTHON" ]; then
    for mode in $MODES; do
        run "active-$mode" LD_PRELOAD="$lib" PARTMALLOC_MODE=$mode -- "$PYTHON" "$tmp/active.py"
        if [ "$(cat "$tmp/active-$mode.out")" = "$mode 1 1" ]; then
            pass "python3 runs on partmalloc in mode $mode"
        else
            cat "$tmp/active-$mode.out" "$tmp/active-$mode.err" | head -10
            fail "python3 runs on partmalloc in mode $mode"
        fi
    done
fi

# ---- python3 ----

cat >"$tmp/work.py" <<'EOF'
import collections, hashlib, json, random, re, threading, zlib

rng = random.Random(12345)
out = []

# dicts, lists and strings of every size
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 40)))
         for _ in range(60000)]
counts = collections.Counter(words)
index = {}
for i, w in enumerate(words):
    index.setdefault(w[:3], []).append(i)
out.append("words %d distinct %d prefixes %d" % (len(words), len(counts), len(index)))
out.append("top %s" % counts.most_common(5))
big = {w: [len(w), w.upper(), w[::-1] * 3, {"n": i}] for i, w in enumerate(words[:30000])}
for k in list(big)[::3]:
    del big[k]
out.append("big %d" % len(big))
text = " ".join(words)
out.append("text %d %s" % (len(text), hashlib.sha256(text.encode()).hexdigest()))
blobs = [bytes(rng.getrandbits(8) for _ in range(rng.choice([1, 10, 100, 1000, 5000, 70000]))) for _ in range(200)]
out.append("blobs %d" % sum(len(b) for b in blobs))

# json round trip
doc = {"items": [{"id": i, "name": words[i], "tags": words[i:i + 5], "score": i * 0.5,
                  "nested": {"a": [i, [i, {"b": str(i)}]]}} for i in range(20000)]}
s = json.dumps(doc, sort_keys=True)
back = json.loads(s)
out.append("json %d %s %s" % (len(s), back == doc, hashlib.md5(s.encode()).hexdigest()))

# sorting
nums = [rng.random() for _ in range(200000)]
out.append("sorted %r %r" % (sorted(nums)[:2], sorted(nums, reverse=True)[0]))
out.append("sorted words %s" % sorted(words, key=lambda w: (len(w), w))[-3:])
tuples = sorted((len(w), w, i) for i, w in enumerate(words))
out.append("tuples %s" % (tuples[100],))

# regular expressions, compression, big integers
pat = re.compile(r"([aeiou]{2,})([^aeiou]+)")
out.append("re %d" % sum(len(pat.findall(w)) for w in words))
z = zlib.compress(text.encode() * 3, 9)
out.append("zlib %d %s" % (len(z), zlib.decompress(z) == text.encode() * 3))
f = 1
for i in range(1, 3000):
    f *= i
out.append("factorial bits %d hex %s" % (f.bit_length(), hashlib.sha1(hex(f).encode()).hexdigest()))
out.append("decimal %s" % str(f % 10 ** 4000)[:40])

# threads: each builds and hashes its own structures, results joined in order
results = [None] * 8
def work(k):
    r = random.Random(k)
    d = {}
    for i in range(20000):
        d["%d-%d" % (k, r.randint(0, 5000))] = [r.random()] * r.randint(0, 20)
    lst = sorted(d.items())
    results[k] = hashlib.sha1(repr(lst).encode()).hexdigest()
threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
out.append("threads %s" % results)
print("\n".join(out))
EOF

if [ -x "$PYTHON" ]; then
    for pymalloc in default malloc; do
        if [ $pymalloc = malloc ]; then pyenv="PYTHONMALLOC=malloc"; else pyenv="PYTHONMALLOC=pymalloc"; fi
        run "py-$pymalloc-base" $pyenv -- "$PYTHON" "$tmp/work.py"
        for mode in $MODES; do
            run "py-$pymalloc-$mode" $pyenv LD_PRELOAD="$lib" PARTMALLOC_MODE=$mode -- "$PYTHON" "$tmp/work.py"
            compare "python3 ($pymalloc allocator, $mode)" "py-$pymalloc-base" "py-$pymalloc-$mode"
        done
    done
else
    fail "python3 ($PYTHON) is not installed"
fi

# ---- perl ----

cat >"$tmp/work.pl" <<'EOF'
use strict;
use warnings;
my $seed = 42;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed >> 16; }
my (%h, @words);
for my $i (1 .. 80000) {
    my $w = join "", map { chr(97 + rnd() % 26) } 1 .. (1 + rnd() % 30);
    push @words, $w;
    $h{$w}++;
    push @{ $h{"list:" . substr($w, 0, 2)} }, $i if length $w > 1;
}
my @keys = sort keys %h;
printf "keys %d first %s last %s\n", scalar @keys, $keys[0], $keys[-1];
my @vowely = grep { /^[^aeiou]*([aeiou])\1/ } @words;
printf "regex %d\n", scalar @vowely;
(my $text = join " ", @words) =~ s/(\w)(\w*)/\U$1\E$2/g;
printf "text %d %s\n", length $text, substr($text, 0, 60);
my $count = () = $text =~ /\b[A-Z][a-z]{3}\b/g;
printf "four-letter %d\n", $count;
my @sorted = sort { length($a) <=> length($b) or $b cmp $a } @words;
printf "sorted %s %s\n", $sorted[0], $sorted[-1];
my @nums = map { rnd() / 7 } 1 .. 100000;
my @ns = sort { $a <=> $b } @nums;
printf "nums %.6f %.6f %.3f\n", $ns[0], $ns[-1], $ns[50000];
my $s = "";
$s .= sprintf("%05d:%s;", $_, $words[$_]) for 0 .. 20000;
printf "sprintf %d\n", length $s;
my %deep;
$deep{$_ % 97}{$_ % 89}[$_ % 7] .= "x" x ($_ % 300) for 1 .. 50000;
my $total = 0;
for my $a (values %deep) { for my $b (values %$a) { $total += length($_ // "") for @$b } }
printf "deep %d\n", $total;
my @split = split /[aeiou]+/, $text;
printf "split %d\n", scalar @split;
my $big = "ab" x 1000000;
$big =~ tr/a/z/;
printf "tr %d %s\n", length $big, substr($big, 0, 6);
delete $h{$_} for grep { /^list:/ } keys %h;
printf "left %d\n", scalar keys %h;
EOF

if [ -x "$PERL" ]; then
    run perl-base -- "$PERL" "$tmp/work.pl"
    for mode in $MODES; do
        run "perl-$mode" LD_PRELOAD="$lib" PARTMALLOC_MODE=$mode -- "$PERL" "$tmp/work.pl"
        compare "perl ($mode)" perl-base "perl-$mode"
    done
else
    fail "perl ($PERL) is not installed"
fi

# ---- git on a generated repository ----

# The session script: everything it runs (sh, awk, git and its helpers)
# inherits LD_PRELOAD. Dates and identities are fixed, so commit ids are
# the same in every run and part of the compared output.
cat >"$tmp/git_session.sh" <<'EOF'
set -e
repo=$1
GIT=${GIT:-git}
mkdir -p "$repo"
cd "$repo"
export GIT_AUTHOR_NAME="A U Thor" GIT_AUTHOR_EMAIL=author@example.com
export GIT_COMMITTER_NAME="C O Mitter" GIT_COMMITTER_EMAIL=committer@example.com
"$GIT" init -q -b main .
"$GIT" config gc.auto 0
"$GIT" config core.fsync none 2>/dev/null || true
i=1
while [ $i -le 50 ]; do
    f=$((i % 7))
    awk -v i=$i -v f=$f 'BEGIN { for (l = 0; l < 40 + i * 3; l++) printf "file %d line %d: %s\n", f, l, ((l * 7 + i) % 5 == 0 ? "changed in " i : "stable " l * f) }' >"file$f.txt"
    awk -v i=$i 'BEGIN { for (l = 0; l < i * 20; l++) printf "%08x %s\n", (l * 2654435761 + i) % 4294967296, (l % 3 ? "abc" : "defghij") }' >"data$((i % 3)).txt"
    mkdir -p "dir$((i % 4))"
    printf 'note %d\n' $i >"dir$((i % 4))/note$i.txt"
    [ $((i % 10)) -eq 0 ] && rm -f "dir$(((i + 1) % 4))"/note*.txt
    "$GIT" add -A
    GIT_AUTHOR_DATE="@$((1700000000 + i * 3600)) +0000" GIT_COMMITTER_DATE="@$((1700000000 + i * 3600 + 60)) +0000" \
        "$GIT" commit -q -m "commit $i: update file$f" -m "body of commit $i"
    i=$((i + 1))
done
echo "== log --stat"
"$GIT" log --stat
echo "== diff HEAD~10"
"$GIT" diff HEAD~10
echo "== blame"
"$GIT" blame -s file3.txt
"$GIT" blame --porcelain data1.txt | grep -v -E '^(author|committer)-(time|tz)' | sort | uniq -c | sort -rn | head -20
echo "== gc"
"$GIT" gc --quiet
"$GIT" gc --quiet --aggressive
echo "== fsck"
"$GIT" fsck --full --strict --no-progress
echo "== objects"
"$GIT" count-objects -v | grep -E '^(count|in-pack|packs):'
"$GIT" cat-file --batch-all-objects --batch-check='%(objectname) %(objecttype) %(objectsize)'
"$GIT" rev-list --all --objects | sort
echo "== show"
"$GIT" show --stat --format=fuller HEAD~25
"$GIT" log --format='%H %T %P %s' --reverse | tail -5
"$GIT" shortlog -sn HEAD
"$GIT" grep -c "changed in" HEAD~3 -- '*.txt'
EOF

if [ -x "$GIT" ]; then
    run git-base HOME="$tmp/home" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT="$GIT" -- \
        sh "$tmp/git_session.sh" "$tmp/repo-base"
    for mode in $MODES; do
        run "git-$mode" HOME="$tmp/home" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT="$GIT" \
            LD_PRELOAD="$lib" PARTMALLOC_MODE=$mode -- sh "$tmp/git_session.sh" "$tmp/repo-$mode"
        compare "git session ($mode)" git-base "git-$mode"
    done
else
    fail "git ($GIT) is not installed"
fi
