#!/bin/sh
# A git session on a generated repository, for Debian's git under
# LD_PRELOAD: everything it runs (sh, awk, git and its helpers) inherits the
# preload. Dates and identities are fixed, so object ids are the same in
# every run and part of the output that realworld/suite.sh compares.
#   sh git_session.sh REPO      (GIT: the git to run)
set -eu
repo=$1
GIT=${GIT:-git}
mkdir -p "$repo"
cd "$repo"
export GIT_AUTHOR_NAME="A U Thor" GIT_AUTHOR_EMAIL=author@example.com
export GIT_COMMITTER_NAME="C O Mitter" GIT_COMMITTER_EMAIL=committer@example.com
t=1700000000
commit() { # message
    t=$((t + 3600))
    GIT_AUTHOR_DATE="@$t +0000" GIT_COMMITTER_DATE="@$((t + 60)) +0000" "$GIT" commit -q -m "$1"
}
"$GIT" init -q -b main .
"$GIT" config gc.auto 0
"$GIT" config core.fsync none 2>/dev/null || true
"$GIT" config merge.conflictstyle merge
i=1
while [ $i -le 120 ]; do
    f=$((i % 9))
    awk -v i=$i -v f=$f 'BEGIN { for (l = 0; l < 60 + i * 2; l++) printf "file %d line %d: %s\n", f, l, ((l * 7 + i) % 5 == 0 ? "changed in " i : "stable " l * f) }' >"file$f.txt"
    awk -v i=$i 'BEGIN { for (l = 0; l < i * 15; l++) printf "%08x %s\n", (l * 2654435761 + i) % 4294967296, (l % 3 ? "abc" : "defghij") }' >"data$((i % 4)).txt"
    mkdir -p "dir$((i % 5))/sub$((i % 3))"
    printf 'note %d\n' $i >"dir$((i % 5))/sub$((i % 3))/note$i.txt"
    [ $((i % 10)) -eq 0 ] && rm -rf "dir$(((i + 1) % 5))"
    "$GIT" add -A
    commit "commit $i: update file$f"
    i=$((i + 1))
done
echo "== branches, merges, cherry-pick, rebase"
"$GIT" checkout -q -b topic HEAD~30
for k in 1 2 3 4 5; do
    printf 'topic %d\n' $k >>"topic.txt"
    sed -i "s/^file \([0-9]\) line $k:/file \1 LINE $k:/" file$k.txt
    "$GIT" add -A
    commit "topic $k"
done
"$GIT" checkout -q main
GIT_AUTHOR_DATE="@$((t + 1)) +0000" GIT_COMMITTER_DATE="@$((t + 2)) +0000" \
    "$GIT" merge -q --no-edit -X ours topic
"$GIT" checkout -q -b side HEAD~40
GIT_COMMITTER_DATE="@$((t + 3)) +0000" "$GIT" cherry-pick topic~2 >/dev/null 2>&1 || "$GIT" cherry-pick --abort
GIT_COMMITTER_DATE="@$((t + 4)) +0000" "$GIT" rebase -q main 2>/dev/null || "$GIT" rebase --abort
"$GIT" checkout -q main
"$GIT" log --graph --oneline --all | head -40
echo "== log, diff, blame"
"$GIT" log --stat --format='%H %an %s' | head -400
"$GIT" diff HEAD~50 --stat
"$GIT" diff HEAD~20 -- file3.txt data1.txt | md5sum
"$GIT" diff --word-diff HEAD~5 | md5sum
"$GIT" blame -s file4.txt | md5sum
"$GIT" blame --porcelain data2.txt | grep -v -E '^(author|committer)-(time|tz)' | sort | uniq -c | sort -rn | head -10
"$GIT" log -p --follow -- file2.txt | md5sum
"$GIT" grep -c "changed in" HEAD~3 -- '*.txt'
"$GIT" rev-list --count --all
"$GIT" shortlog -sn HEAD
echo "== stash, tags, archive, bundle, format-patch"
# From here on every new object has the same fixed dates.
export GIT_AUTHOR_DATE="@$((t + 10)) +0000" GIT_COMMITTER_DATE="@$((t + 10)) +0000"
printf 'dirty\n' >>file1.txt
"$GIT" stash -q
"$GIT" stash list | wc -l
"$GIT" stash pop -q
"$GIT" checkout -q -- file1.txt
GIT_COMMITTER_DATE="@$((t + 5)) +0000" "$GIT" tag -a -m "release one" v1.0 HEAD~10
"$GIT" describe HEAD
"$GIT" archive --format=tar HEAD | md5sum
"$GIT" archive --format=tar.gz HEAD | gzip -dc | md5sum
"$GIT" bundle create ../all.bundle --all 2>/dev/null
"$GIT" bundle verify ../all.bundle 2>&1 | tail -1 | sed 's|.*/||'
"$GIT" format-patch -q -o ../patches HEAD~8
cat ../patches/*.patch | grep -v '^From [0-9a-f]* ' | md5sum
echo "== gc, repack, fsck"
"$GIT" gc --quiet
"$GIT" repack -a -d -f -q --depth=50 --window=50
"$GIT" gc --quiet --aggressive
"$GIT" fsck --full --strict --no-progress
"$GIT" count-objects -v | grep -E '^(count|in-pack|packs):'
"$GIT" cat-file --batch-all-objects --batch-check='%(objectname) %(objecttype) %(objectsize)' | md5sum
"$GIT" rev-list --all --objects | sort | md5sum
echo "== clone"
"$GIT" clone -q --no-local . ../clone
cd ../clone
"$GIT" log --format='%H %T %P %s' --reverse | tail -5
"$GIT" fsck --no-progress && echo clone ok
