#!/usr/bin/env bash
# The replay bench of docs/rcl-replay.md, every run the note reports, one at a time (niced), with markdown
# tables of the figures. Rerun it after a change of the method to see the replay figures move.
#
#   benchmarks/rcl_replay.sh [DATA] [OUT] [RUNS...]
#
# DATA: the folder holding nezha-tt/ and nezha-ob/ (default ../shared/data beside the checkout); OUT: where
# the JSON documents and tables go (default replay-bench/); RUNS: any of tt-traces tt-all tt-logs ob-all
# ob-logs ob-traces (default: all six; ob-traces repeats what ob-all's rcl-no-metrics column already shows, as
# Online Boutique has no logs). Each run writes OUT/RUN.json (the bench's --json document), OUT/RUN.time
# (its wall and CPU time) and OUT/RUN.md (the tables); `tables` alone re-renders the tables of OUT.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$here/../shared/data}"
out="${2:-replay-bench}"
shift $(($# > 2 ? 2 : $#))
runs=("$@")
[ ${#runs[@]} -eq 0 ] && runs=(tt-traces tt-all tt-logs ob-all ob-logs ob-traces)
five=network_delay,cpu_contention,cpu_hog,exception,error_return
mkdir -p "$out"

args_of() {
    case "$1" in
        tt-traces) echo "$data/nezha-tt --faults $five --strengths easy,hard --modalities traces --methods all" ;;
        tt-all) echo "$data/nezha-tt --faults $five --strengths easy,hard --modalities all --methods all" ;;
        tt-logs) echo "$data/nezha-tt --faults exception,error_return --strengths logs --modalities all --methods all" ;;
        ob-all) echo "$data/nezha-ob --faults $five --strengths easy,hard --modalities all --methods all" ;;
        ob-logs) echo "$data/nezha-ob --faults exception,error_return --strengths logs --modalities all --methods all" ;;
        ob-traces) echo "$data/nezha-ob --faults $five --strengths easy,hard --modalities traces --methods all" ;;
        *) echo "unknown run $1 (use tt-traces tt-all tt-logs ob-all ob-logs ob-traces)" >&2; exit 2 ;;
    esac
}

tables() {  # markdown tables of one bench document: methods overall, then AC@1 / AC@3 per fault type
    python - "$1" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
methods = doc["methods"]
print(f"{doc['cases']} cases, modalities {', '.join(doc.get('modalities', []))}\n")
print("| method | AC@1 | AC@3 | AC@5 | MRR |\n|---|---|---|---|---|")
for name, m in methods.items():
    print(f"| {name} | {m['ac1']:.2f} | {m['ac3']:.2f} | {m['ac5']:.2f} | {m['mrr']:.2f} |")
types = sorted({t for m in methods.values() for t in m["by_fault_type"]})
print("\n| AC@1 / AC@3 (cases) | " + " | ".join(methods) + " |")
print("|---" * (len(methods) + 1) + "|")
for t in types:
    first = next(m["by_fault_type"][t] for m in methods.values() if t in m["by_fault_type"])
    cells = [
        f"{m['by_fault_type'][t]['ac1']:.2f} / {m['by_fault_type'][t]['ac3']:.2f}" if t in m["by_fault_type"] else "-"
        for m in methods.values()
    ]
    print(f"| {t} ({first['cases']}) | " + " | ".join(cells) + " |")
PY
}

if [ "${runs[0]}" = tables ]; then
    for f in "$out"/*.json; do tables "$f" > "${f%.json}.md"; echo "${f%.json}.md"; done
    exit 0
fi
for run in "${runs[@]}"; do args_of "$run" > /dev/null; done  # an unknown name stops before any run
for run in "${runs[@]}"; do
    # shellcheck disable=SC2046
    /usr/bin/time -f "%e s wall, %U s CPU (user)" -o "$out/$run.time" \
        nice faultwise rcl bench replay $(args_of "$run") --targets 10 --seeds 1 --json > "$out/$run.json"
    tables "$out/$run.json" > "$out/$run.md"
    echo "$run: $(cat "$out/$run.time")"
done
