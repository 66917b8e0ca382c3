#!/bin/bash
# shellcheck disable=SC2059 # the table formats $fmt, $cfmt are used many times
# rule_apply.sh - how long checking, compiling and applying a policy with N
# registered hosts takes, beside the anchor: `nft -f` of the very text
# `sekisho show` prints, loaded into the same namespace state in the same run.
#
# usage: bench/rule_apply.sh [N...]        (default: 1000 10000 100000; root)
#   BENCH_RUNS=3          runs per figure (the median is printed)
#   BENCH_NO_BUILD=1      use the existing build in $SEKISHO_BENCH_BUILD
#   SEKISHO_BENCH_BUILD   build dir (default build-bench, Release)
#
# Per N, per run, in a throwaway namespace sk-bench-apply-PID:
#   check          sekisho check DIR                    (parse + invariants)
#   show           sekisho show DIR > file              (parse + check + compile + print)
#   apply new      sekisho apply DIR into an empty namespace
#   apply repl     sekisho apply DIR again, over the table the first apply made
#   nft new        nft -f anchor.nft into an empty namespace
#   nft repl       nft -f anchor.nft again, over the table it made
# anchor.nft is "table inet sekisho; delete table inet sekisho;" followed by
# the show text: one transaction that replaces the table, as apply does.
# Until `sekisho show` works the anchor is the hand-written equivalent from
# gen_policy.py --equiv and the sekisho columns read n/a.
#
# Targets: apply <= nft -f (new and replace), and apply <= 1 s at 100k.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_need_root

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)

ns=sk-bench-apply-$$
work=$(mktemp -d /tmp/sk-bench-apply.XXXXXX)
cleanup() {
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_build_sekisho
sk=$bench_sekisho
ip netns add "$ns"
inns() { ip netns exec "$ns" "$@"; }
export bench_err="$work/stderr"
: >"$bench_err"

echo "rule_apply: $(bench_machine)"
echo "rule_apply: runs per figure: $bench_runs (median); sekisho: $sk"

results=() cpu=()
fmt='%7s %8s %8s %9s %9s %6s %9s %9s %6s %5s  %s'
cfmt='%7s %18s %9s %6s %9s %9s %6s'
for n in "${sizes[@]}"; do
	d="$work/rules-$n"
	python3 "$bench_top/bench/gen_policy.py" "$n" --out "$d" --equiv "$work/equiv-$n.nft"
	have_sk=1
	if ! "$sk" check "$d" >/dev/null 2>"$work/check.err"; then
		echo "rule_apply: N=$n: sekisho check failed, sekisho columns n/a:" >&2
		head -5 "$work/check.err" >&2
		have_sk=0
	elif ! "$sk" show "$d" >"$work/show-$n.nft" 2>"$work/show.err"; then
		echo "rule_apply: N=$n: sekisho show failed, sekisho columns n/a:" >&2
		head -5 "$work/show.err" >&2
		have_sk=0
	fi
	anchor="$work/anchor-$n.nft"
	{
		echo "table inet sekisho"
		echo "delete table inet sekisho"
		if [ $have_sk = 1 ]; then cat "$work/show-$n.nft"; else cat "$work/equiv-$n.nft"; fi
	} >"$anchor"

	t_check=() t_show=() t_anew=() t_arep=() t_nnew=() t_nrep=()
	c_anew=() c_arep=() c_nnew=() c_nrep=()
	for ((r = 1; r <= bench_runs; r++)); do
		# alternate which of the two goes first, so neither always gets the
		# warmer caches
		for who in $( ((r % 2)) && echo "sk nft" || echo "nft sk"); do
			inns nft flush ruleset
			if [ "$who" = nft ]; then
				read -r w c < <(bench_time inns nft -f "$anchor")
				t_nnew+=("$w") c_nnew+=("$c")
				read -r w c < <(bench_time inns nft -f "$anchor")
				t_nrep+=("$w") c_nrep+=("$c")
				[ "$r" = 1 ] && inns nft list ruleset >"$work/list-nft-$n"
			elif [ $have_sk = 1 ]; then
				rm -rf "$work/state"
				mkdir -p "$work/state"
				read -r w c < <(bench_time inns "$sk" --state-dir "$work/state" apply "$d")
				t_anew+=("$w") c_anew+=("$c")
				read -r w c < <(bench_time inns "$sk" --state-dir "$work/state" apply "$d")
				t_arep+=("$w") c_arep+=("$c")
				[ "$r" = 1 ] && inns nft list ruleset >"$work/list-sk-$n"
			fi
		done
		if [ $have_sk = 1 ]; then
			read -r w c < <(bench_time "$sk" check "$d")
			t_check+=("$w")
			read -r w c < <(bench_time "$sk" show "$d")
			t_show+=("$w")
		fi
	done
	inns nft flush ruleset
	if [ ${#t_nnew[@]} -ne "$bench_runs" ] || [ ${#t_nrep[@]} -ne "$bench_runs" ]; then
		echo "$0: nft -f failed" >&2
		exit 1
	fi

	same="-"
	nnew=$(bench_median "${t_nnew[@]}") nrep=$(bench_median "${t_nrep[@]}")
	cnnew=$(bench_median "${c_nnew[@]}") cnrep=$(bench_median "${c_nrep[@]}")
	if [ $have_sk = 1 ] && [ ${#t_anew[@]} -eq "$bench_runs" ] && [ ${#t_arep[@]} -eq "$bench_runs" ]; then
		if cmp -s "$work/list-sk-$n" "$work/list-nft-$n"; then same=yes; else same=NO; fi
		check=$(bench_median "${t_check[@]}") show=$(bench_median "${t_show[@]}")
		anew=$(bench_median "${t_anew[@]}") arep=$(bench_median "${t_arep[@]}")
		canew=$(bench_median "${c_anew[@]}") carep=$(bench_median "${c_arep[@]}")
		verdict=PASS
		[ "$anew" -le "$nnew" ] || verdict=MISS
		[ "$arep" -le "$nrep" ] || verdict=MISS
		if [ "$n" -ge 100000 ] && { [ "$anew" -gt 1000000 ] || [ "$arep" -gt 1000000 ]; }; then
			verdict=MISS
		fi
		results+=("$(printf "$fmt" "$n" \
			"$(bench_s "$check")" "$(bench_s "$show")" \
			"$(bench_s "$anew")" "$(bench_s "$nnew")" "$(bench_ratio "$anew" "$nnew")" \
			"$(bench_s "$arep")" "$(bench_s "$nrep")" "$(bench_ratio "$arep" "$nrep")" \
			"$same" "$verdict")")
		cpu+=("$(printf "$cfmt" "$n" \
			"$(bench_s "$canew")" "$(bench_s "$cnnew")" "$(bench_ratio "$canew" "$cnnew")" \
			"$(bench_s "$carep")" "$(bench_s "$cnrep")" "$(bench_ratio "$carep" "$cnrep")")")
	else
		[ $have_sk = 1 ] && echo "rule_apply: N=$n: sekisho apply failed, see above" >&2
		results+=("$(printf "$fmt" "$n" \
			n/a n/a n/a "$(bench_s "$nnew")" - n/a "$(bench_s "$nrep")" - - \
			"anchor only")")
		cpu+=("$(printf "$cfmt" "$n" n/a "$(bench_s "$cnnew")" - n/a "$(bench_s "$cnrep")" -)")
	fi
	echo "rule_apply: N=$n done; anchor $(wc -c <"$anchor") bytes," \
		"$(grep -c . "$work/list-nft-$n") listed lines" >&2
done

echo
echo "rule_apply: wall seconds, median of $bench_runs; new = into an empty namespace," \
	"rep = replacing the same table"
echo "rule_apply: target: apply <= nft -f (ratio <= 1.00), and <= 1 s at 100k;" \
	"same = nft list ruleset identical after apply and after nft -f"
printf "$fmt\n" N check show "apply new" "nft new" ratio "apply rep" "nft rep" ratio same result
for l in "${results[@]}"; do echo "$l"; done
echo
echo "rule_apply: CPU seconds (user + system, the kernel's batch work included), median;" \
	"less sensitive than wall time to other work on the machine"
printf "$cfmt\n" N "apply new" "nft new" ratio "apply rep" "nft rep" ratio
for l in "${cpu[@]}"; do echo "$l"; done
