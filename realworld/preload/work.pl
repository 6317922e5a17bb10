# A workload for Debian's perl under LD_PRELOAD: its output must be the same
# with and without partmalloc (realworld/suite.sh compares them).
# Deterministic: own generator, PERL_HASH_SEED=0, sorted keys.
use strict;
use warnings;
use Data::Dumper;
use Digest::MD5 qw(md5_hex);
use List::Util qw(sum max min reduce shuffle);
use Storable qw(freeze thaw dclone);
$Data::Dumper::Sortkeys = 1;
$Data::Dumper::Indent = 1;

my $seed = 1234;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed >> 16; }
sub word { join "", map { chr(97 + rnd() % 26) } 1 .. (1 + rnd() % 12) }

my (@words, %count);
for my $i (1 .. 150000) {
    my $w = word();
    push @words, $w;
    $count{$w}++;
}
my @keys = sort keys %count;
my @top = (sort { $count{$b} <=> $count{$a} or $a cmp $b } @keys)[0 .. 4];
printf "words %d distinct %d first %s last %s top %s\n", scalar @words, scalar @keys, $keys[0], $keys[-1],
    join(",", map { "$_=$count{$_}" } @top);

# nested structures, deep copies, serialization
my %db;
for my $i (0 .. 40000) {
    my $w = $words[$i];
    push @{ $db{substr($w, 0, 1)}{length $w} }, { id => $i, w => $w, rev => scalar reverse($w), tags => [ @words[$i .. $i + 3] ] };
}
my $copy = dclone(\%db);
my $frozen = freeze(\%db);
my $thawed = thaw($frozen);
printf "db %d buckets, frozen %d, copies equal %d\n", scalar(keys %db), length $frozen,
    (Dumper($copy) eq Dumper($thawed)) ? 1 : 0;
printf "dumper %s\n", md5_hex(Dumper($db{a}));

# regular expressions and substitutions
my $text = join " ", @words[0 .. 60000];
(my $title = $text) =~ s/(\w)(\w*)/\U$1\E$2/g;
my $n = () = $title =~ /\b[A-Z][a-z]{3}\b/g;
my @vowels = grep { /^[^aeiou]*([aeiou])\1/ } @words;
my %caps;
$caps{$1}++ while $text =~ /\b(\w{2})\w*\b/g;
printf "regex four %d vowels %d pairs %d md5 %s\n", $n, scalar @vowels, scalar keys %caps, md5_hex($title);
my @split = split /[aeiou]+/, $text;
(my $tr = $text) =~ tr/a-m/n-z/;
printf "split %d tr %s\n", scalar @split, md5_hex($tr);

# sorting numbers and records
my @nums = map { rnd() / 7 } 1 .. 200000;
my @sorted = sort { $a <=> $b } @nums;
printf "nums %.4f %.4f %.4f sum %.2f\n", $sorted[0], $sorted[-1], $sorted[100000], sum(@nums);
my @recs = map { { n => rnd() % 1000, w => $words[$_] } } 0 .. 50000;
my @rs = sort { $a->{n} <=> $b->{n} or $a->{w} cmp $b->{w} } @recs;
printf "records %d %s %s\n", scalar @rs, "$rs[0]{n}:$rs[0]{w}", "$rs[-1]{n}:$rs[-1]{w}";

# strings: sprintf, pack/unpack, repetition, substr edits
my $s = "";
$s .= sprintf("%06d:%s;", $_, $words[$_]) for 0 .. 30000;
my $packed = pack("(N n/a* d)*", map { ($_, $words[$_], $_ / 3) } 0 .. 20000);
my @un = unpack("(N n/a* d)*", $packed);
my $big = "abc" x 500000;
substr($big, $_ * 1000, 3) = "XYZW" for 0 .. 1000;
printf "sprintf %d pack %d unpack %d big %d %s\n", length $s, length $packed, scalar @un, length $big, md5_hex($big);

# closures and objects
package Counter { sub new { my ($c, $n) = @_; my $v = $n; bless { inc => sub { $v += shift // 1 }, get => sub { $v } }, $c } }
my @counters = map { Counter->new($_) } 1 .. 20000;
$_->{inc}->(3) for @counters;
printf "closures %d\n", sum(map { $_->{get}->() } @counters);

# deleting and rebuilding large hashes
delete @count{ grep { length($_) > 6 } keys %count };
my %inv;
push @{ $inv{ $count{$_} } }, $_ for sort keys %count;
printf "left %d groups %d\n", scalar keys %count, scalar keys %inv;
