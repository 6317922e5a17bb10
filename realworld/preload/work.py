# A workload for Debian's python3 under LD_PRELOAD: its output must be the
# same with and without partmalloc (realworld/suite.sh compares them).
# Deterministic: fixed seeds, PYTHONHASHSEED=0, no addresses or times printed.
import collections, csv, difflib, decimal, fractions, hashlib, heapq, io, itertools
import json, random, re, sqlite3, statistics, struct, textwrap, threading, unicodedata
import xml.etree.ElementTree as ET
import zlib, bz2, lzma

rng = random.Random(2024)
out = []
def digest(obj):
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:16]

# strings, dicts, lists, sets
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 12)))
         for _ in range(120000)]
counts = collections.Counter(words)
out.append("words %d distinct %d top %s" % (len(words), len(counts), counts.most_common(3)))
byprefix = collections.defaultdict(list)
for i, w in enumerate(words):
    byprefix[w[:2]].append(i)
out.append("prefixes %d largest %d" % (len(byprefix), max(len(v) for v in byprefix.values())))
nested = {w: {"len": len(w), "rev": w[::-1], "up": w.upper(), "pos": [i, i * 2]} for i, w in enumerate(words[:50000])}
for k in list(nested)[::2]:
    del nested[k]
out.append("nested %d %s" % (len(nested), digest(sorted(nested.items())[:50])))
s1, s2 = set(words[:60000]), set(words[60000:])
out.append("sets %d %d %d" % (len(s1 & s2), len(s1 | s2), len(s1 ^ s2)))

# json, csv, xml round trips
doc = {"items": [{"id": i, "name": words[i], "tags": words[i:i + 4], "score": i / 7,
                  "child": {"a": [i, {"b": str(i)}]}} for i in range(30000)]}
text = json.dumps(doc, sort_keys=True)
out.append("json %d %s %s" % (len(text), json.loads(text) == doc, hashlib.md5(text.encode()).hexdigest()))
buf = io.StringIO()
w = csv.writer(buf)
for i in range(20000):
    w.writerow([i, words[i], words[i].upper(), i * 1.5, '"quoted, %d"' % i])
rows = list(csv.reader(io.StringIO(buf.getvalue())))
out.append("csv %d %s" % (len(rows), digest(rows[-3:])))
root = ET.Element("root")
for i in range(8000):
    e = ET.SubElement(root, "item", id=str(i), kind=words[i][:3])
    e.text = words[i] * 3
    ET.SubElement(e, "sub").text = str(i * i)
xml = ET.tostring(root)
back = ET.fromstring(xml)
out.append("xml %d %d %s" % (len(xml), len(back), hashlib.sha1(xml).hexdigest()[:16]))

# sqlite3 in memory: its own allocations go through malloc
db = sqlite3.connect(":memory:")
db.execute("create table t (id integer primary key, w text, n integer)")
db.executemany("insert into t (w, n) values (?, ?)", [(w, len(w)) for w in words[:80000]])
db.execute("create index tw on t (w)")
r = db.execute("select n, count(*), min(w), max(w) from t group by n order by n").fetchall()
out.append("sqlite %s" % digest(r))
r = db.execute("select w, count(*) c from t group by w having c > 2 order by c desc, w limit 5").fetchall()
out.append("sqlite top %s" % r)
db.close()

# sorting, heaps, itertools
nums = [rng.random() for _ in range(300000)]
out.append("sorted %r %r" % (sorted(nums)[:2], heapq.nlargest(2, nums)))
out.append("sortkey %s" % sorted(words, key=lambda w: (len(w), w))[-3:])
out.append("perms %d combos %d" % (sum(1 for _ in itertools.permutations(range(8))),
                                    sum(1 for _ in itertools.combinations(range(22), 6))))

# regular expressions, text, unicode
pat = re.compile(r"([aeiou]{2,})([^aeiou]{1,3})")
out.append("re %d" % sum(len(pat.findall(w)) for w in words))
para = " ".join(words[:5000])
out.append("wrap %s" % hashlib.md5(textwrap.fill(para, 60).encode()).hexdigest())
uni = "".join(chr(c) for c in range(0x100, 0x3000) if unicodedata.category(chr(c))[0] == "L")
out.append("unicode %d %s" % (len(uni), hashlib.md5(unicodedata.normalize("NFKD", uni).encode()).hexdigest()))
a = [w for w in words[:3000]]
b = [w if i % 17 else w.upper() for i, w in enumerate(a)]
out.append("difflib %d" % sum(1 for l in difflib.unified_diff(a, b, lineterm="")))

# numbers: big integers, decimals, fractions, statistics
f = 1
for i in range(1, 4000):
    f *= i
out.append("factorial bits %d %s" % (f.bit_length(), hashlib.sha1(hex(f).encode()).hexdigest()[:16]))
decimal.getcontext().prec = 200
out.append("decimal %s" % str(decimal.Decimal(2).sqrt())[:60])
h = sum(fractions.Fraction(1, k) for k in range(1, 400))
out.append("harmonic %d digits" % len(str(h.denominator)))
out.append("stats %.6f %.6f" % (statistics.mean(nums), statistics.pstdev(nums)))

# compression and struct
blob = para.encode() * 20
out.append("zlib %d bz2 %d lzma %d" % (len(zlib.compress(blob, 9)), len(bz2.compress(blob)), len(lzma.compress(blob))))
packed = b"".join(struct.pack("<iqd", i, i * i, i / 3) for i in range(50000))
out.append("struct %d %s" % (len(packed), hashlib.md5(packed).hexdigest()))

# threads, each building its own structures
results = [None] * 8
def work(k):
    r = random.Random(k)
    d = {}
    for i in range(30000):
        d["%d-%d" % (k, r.randint(0, 8000))] = [r.random()] * r.randint(0, 10)
    results[k] = digest(sorted(d.items()))
threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
out.append("threads %s" % results)
print("\n".join(out))
