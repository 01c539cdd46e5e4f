# Shared by the side-by-side benchmarks (bench/reader.sh, bench/extract.sh): generated data,
# the Python engines' venv, timing and the figures' arithmetic. Sourced from the repository
# root, after `set -euo pipefail`; expects REPEAT and BIN (the release binaries' directory).

# generate_once DATA RECORDS OBJECTS "NAME [GEN_BENCH FLAGS]"...: makes each named tree of
# RECORDS records in OBJECTS gzip objects under DATA with gen_bench, unless DATA was already
# made at this size (a stamp file says so); DATA is emptied first.
generate_once() {
    local data=$1 records=$2 objects=$3
    shift 3
    local stamp="$data/.generated-$records-$objects"
    if [[ -f $stamp ]]; then
        return
    fi
    rm -rf "$data"
    local tree name flags
    for tree in "$@"; do
        read -r name flags <<<"$tree"
        echo "generating $records records in $objects objects under $data/$name" >&2
        # Word splitting of the flags is wanted.
        # shellcheck disable=SC2086
        "$BIN/examples/gen_bench" "$data/$name" "$records" "$objects" $flags
    done
    touch "$stamp"
}

# python_engines: polars, DuckDB and python-isal in bench/.venv.
python_engines() {
    if [[ ! -x bench/.venv/bin/python ]]; then
        python3 -m venv bench/.venv
    fi
    bench/.venv/bin/pip install --quiet --disable-pip-version-check polars duckdb isal
}

now() { date +%s.%N; }

# best_of CMD...: runs CMD REPEAT times, prints the shortest wall time in seconds.
best_of() {
    local best="" t0 t1 s
    for _ in $(seq "$REPEAT"); do
        t0=$(now)
        "$@" >/dev/null 2>&1
        t1=$(now)
        s=$(echo "$t1 - $t0" | bc -l)
        if [[ -z $best ]] || (($(echo "$s < $best" | bc -l))); then best=$s; fi
    done
    echo "$best"
}

# best_reported CMD...: like best_of, but takes `seconds=` from the command's own output
# (the Python engines time themselves, excluding interpreter start-up and imports).
best_reported() {
    local best="" s
    for _ in $(seq "$REPEAT"); do
        s=$("$@" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
        if [[ -z $best ]] || (($(echo "$s < $best" | bc -l))); then best=$s; fi
    done
    echo "$best"
}

# count_records DIR: the records flowhound reads under DIR.
count_records() {
    "$BIN/flowhound" inspect "$1" --json | sed -n 's/.*"records":\([0-9]*\).*/\1/p'
}

# print_setup RECORDS OBJECTS: the line that says what ran where.
print_setup() {
    printf 'records: %s in %s objects; %s, %s cores, load %s\n' "$1" "$2" "$(uname -m)" "$(nproc)" \
        "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# rate RECORDS SECONDS: millions of records per second.
rate() { echo "$1 / $2 / 1000000" | bc -l | xargs printf '%.2f'; }
# ratio A B: A / B.
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
