#!/usr/bin/env bash
# Builds the container image of deploy/Dockerfile without any image registry, then runs
# `flowhound demo` inside it. For CI (.ci/run), which reaches Debian's mirror but no
# registry:
#
#   1. the runtime base: a minbase Debian bookworm with ca-certificates, made with
#      mmdebstrap from Debian's packages (what debian:bookworm-slim is) and imported as
#      $BASE_IMAGE;
#   2. the image: deploy/Dockerfile's `prebuilt` target, i.e. its runtime-base stage on
#      that base plus the binary given (stripped of its DWARF line tables, as the
#      Dockerfile's build stage does); the Rust build stage is skipped, its image never
#      pulled;
#   3. checks: the image's user, entrypoint and size; `flowhound demo` in a container
#      without network, on a read-only root, writing into a volume at the working
#      directory: exit 0, the evaluation table, files owned by uid 10001.
#
# Usage: deploy/image/ci-build.sh [--allow-no-run] [BINARY]   (default target/release/flowhound)
#   --allow-no-run  if no OCI runtime can start a container here, report why and exit 0
#                   after building the image (default: exit 1)
# Environment: IMAGE (localhost/flowhound:ci), BASE_IMAGE (localhost/flowhound-base:bookworm),
#   REBUILD_BASE=1 to remake an existing base, RUNTIMES ("crun runc": tried in order),
#   BUILD_ISOLATION (chroot), STORAGE_DRIVER (containers/storage's own, e.g. vfs).
# Needs root (mmdebstrap's root mode, podman), podman, mmdebstrap, objcopy.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

IMAGE=${IMAGE:-localhost/flowhound:ci}
BASE_IMAGE=${BASE_IMAGE:-localhost/flowhound-base:bookworm}
RUNTIMES=${RUNTIMES:-crun runc}
BUILD_ISOLATION=${BUILD_ISOLATION:-chroot}
SUITE=bookworm
USER_ID=10001
WORKDIR=/var/lib/flowhound

allow_no_run=0
binary=target/release/flowhound
for arg in "$@"; do
    case $arg in
        --allow-no-run) allow_no_run=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "ci-build.sh: unknown option $arg" >&2; exit 2 ;;
        *) binary=$arg ;;
    esac
done

say() { printf '\n== image: %s\n' "$*"; }
run() { printf '+ %s\n' "$*" >&2; "$@"; }
die() { printf '\nci-build.sh: FAILED: %s\n' "$*" >&2; exit 1; }
step_start() { step_t0=$SECONDS; }
step_end() { printf '   (%s: %d s)\n' "$1" $((SECONDS - step_t0)); }

for tool in podman objcopy; do
    command -v "$tool" > /dev/null || die "$tool not found (apt-get install podman binutils)"
done
[ "$(id -u)" = 0 ] || die "run as root: mmdebstrap's root mode and the image checks assume rootful podman"
[ -f "$binary" ] || die "binary $binary not found (cargo build --release --locked -p flowhound)"
case $(head -c 4 "$binary" | od -An -c | tr -d ' ') in
    177ELF) ;;
    *) die "$binary is not an ELF executable" ;;
esac
t_all=$SECONDS

# ---- 1. the base image
if [ "${REBUILD_BASE:-0}" != 1 ] && podman image exists "$BASE_IMAGE"; then
    say "base $BASE_IMAGE exists (REBUILD_BASE=1 to remake it)"
else
    command -v mmdebstrap > /dev/null || die "mmdebstrap not found (apt-get install mmdebstrap)"
    say "base $BASE_IMAGE: mmdebstrap $SUITE minbase + ca-certificates"
    # The mirror: on a bookworm host, the apt sources this machine already uses (known to be
    # reachable); elsewhere mmdebstrap's default (deb.debian.org and security.debian.org).
    sources=()
    if grep -qs '^VERSION_CODENAME=bookworm$' /etc/os-release; then
        for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
            if [ -s "$f" ] && grep -qs "$SUITE" "$f"; then sources=("$f"); break; fi
        done
    fi
    echo "   apt sources: ${sources[*]:-mmdebstrap default}"
    hooks=()
    # merged /usr through usr-is-merged, as Debian's images: without it apt picks usrmerge,
    # which pulls perl (+45 MB).
    if [ -d /usr/share/mmdebstrap/hooks/merged-usr ]; then
        hooks=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
    fi
    step_start
    # The dpkg path excludes are those of debian:bookworm-slim (no manuals, docs, locales);
    # they stay in the image's dpkg configuration, so the Dockerfile's apt-get honours them.
    run mmdebstrap --variant=minbase --include=ca-certificates "${hooks[@]}" \
        --aptopt='Acquire::Languages "none"' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --format=tar "$SUITE" - "${sources[@]}" \
        | run podman import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["bash"]' \
            - "$BASE_IMAGE" > /dev/null \
        || die "could not make the base image $BASE_IMAGE (mmdebstrap or podman import above)"
    step_end "base image"
fi

# ---- 2. the image
say "build $IMAGE from deploy/Dockerfile with the binary $binary"
step_start
# The stripped copy goes where the build context (.dockerignore) lets it in.
mkdir -p target/image
run objcopy --strip-debug "$binary" target/image/flowhound
# --pull=never: nothing may come from a registry (the Rust stage is skipped, the base is
# local); --isolation chroot: the RUN step needs no OCI runtime (see step 3 for why that
# matters); --format docker: what `docker build` produces (keeps HEALTHCHECK NONE).
revision=$(git rev-parse --short=12 HEAD 2> /dev/null || echo unknown)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
run podman build --pull=never --skip-unused-stages=true --isolation="$BUILD_ISOLATION" \
    --format=docker \
    --target=prebuilt \
    --build-arg RUNTIME_IMAGE="$BASE_IMAGE" \
    --build-arg PREBUILT_BINARY=target/image/flowhound \
    --build-arg VERSION="${version:-unknown}" \
    --build-arg REVISION="$revision" \
    -f deploy/Dockerfile -t "$IMAGE" . \
    || die "podman build failed (output above)"
step_end "image build"

say "inspect $IMAGE"
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
entrypoint=$(podman image inspect --format '{{json .Config.Entrypoint}}' "$IMAGE")
workdir=$(podman image inspect --format '{{.Config.WorkingDir}}' "$IMAGE")
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "   user $user, entrypoint $entrypoint, workdir $workdir"
[ "$user" = "$USER_ID:$USER_ID" ] || die "image user is '$user', expected $USER_ID:$USER_ID"
[ "$entrypoint" = '["flowhound"]' ] || die "image entrypoint is $entrypoint, expected [\"flowhound\"]"
[ "$workdir" = "$WORKDIR" ] || die "image working directory is '$workdir', expected $WORKDIR"
step_start
gz=$(podman image save --format docker-archive "$IMAGE" | gzip -6 | wc -c)
printf '   size %d MB unpacked, %d MB gzip-compressed (about what a registry stores and a pull moves)\n' \
    $((size / 1000000)) $((gz / 1000000))
step_end "size"

# ---- 3. run it
# podman's default rlimits for root (nofile 1048576, nproc 4194304) cannot be set without
# CAP_SYS_RESOURCE, so they are set explicitly: nofile as on Fargate (65535, or this
# shell's hard limit if lower), nproc 4096 (per uid 10001, which runs nothing else).
nofile=$(ulimit -Hn)
if [ "$nofile" = unlimited ] || [ "$nofile" -gt 65535 ]; then nofile=65535; fi
# --no-healthcheck: podman 4.3 wants a systemd timer even for HEALTHCHECK NONE and logs an
# error without systemd.
run_flags=(--rm --network=none --no-healthcheck
    --ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)

say "find an OCI runtime that can start a container here (tried: $RUNTIMES)"
runtime=""
failures=""
for rt in $RUNTIMES; do
    if ! command -v "$rt" > /dev/null && [ ! -x "/usr/sbin/$rt" ] && [ ! -x "/usr/bin/$rt" ]; then
        failures+="  $rt: not installed"$'\n'
        continue
    fi
    if out=$(podman --runtime "$rt" run "${run_flags[@]}" "$IMAGE" --version 2>&1); then
        runtime=$rt
        echo "   $rt: $out"
        break
    fi
    failures+="  $rt: $(printf '%s' "$out" | grep -v 'level=' | tail -n 3)"$'\n'
done
if [ -z "$runtime" ]; then
    printf '\nThe image %s was built, but no OCI runtime could start a container here:\n%s' \
        "$IMAGE" "$failures" >&2
    cat >&2 << 'EOF'
Known causes: "crun: cgroups in hybrid mode not supported" (cgroup v1 with controllers also
on the cgroup2 hierarchy: install runc, which copes); "setrlimit ... Operation not
permitted" (no CAP_SYS_RESOURCE: the rlimits requested are above the hard limits).
EOF
    if [ "$allow_no_run" = 1 ]; then
        echo "ci-build.sh: SKIPPED the run checks (--allow-no-run)" >&2
        exit 0
    fi
    die "cannot run containers"
fi
if [ -n "$failures" ]; then
    printf '   (not usable here:\n%s   )\n' "$failures"
fi

say "user and CA bundle inside the image"
ids=$(podman --runtime "$runtime" run "${run_flags[@]}" --entrypoint /bin/sh "$IMAGE" \
    -c 'echo "$(id -u):$(id -g)"; if test -s /etc/ssl/certs/ca-certificates.crt; then echo ca-ok; else echo ca-missing; fi') \
    || die "could not run /bin/sh in the image"
echo "   $(echo "$ids" | tr '\n' ' ')"
[ "$(echo "$ids" | head -n 1)" = "$USER_ID:$USER_ID" ] || die "the container runs as $(echo "$ids" | head -n 1)"
[ "$(echo "$ids" | tail -n 1)" = ca-ok ] || die "no /etc/ssl/certs/ca-certificates.crt in the image"

say "flowhound demo in the image (no network, read-only root, volume at $WORKDIR)"
volume=$(mktemp -d "${TMPDIR:-/tmp}/flowhound-image-demo.XXXXXX")
trap 'rm -rf "$volume" "$volume.stdout" "$volume.stderr"' EXIT
chown "$USER_ID:$USER_ID" "$volume"
step_start
status=0
run podman --runtime "$runtime" run "${run_flags[@]}" --read-only \
    -v "$volume:$WORKDIR:Z" "$IMAGE" demo > "$volume.stdout" 2> "$volume.stderr" || status=$?
step_end "demo"
if [ "$status" != 0 ]; then
    tail -n 30 "$volume.stdout" "$volume.stderr" >&2
    die "flowhound demo exited with $status in the container"
fi
# The evaluation table, from its header to the summary.
sed -n '/^detector  /,/^(slack/p' "$volume.stdout"
grep -q '^overall  ' "$volume.stdout" || die "no evaluation table in demo's output"
out_dir=$volume/flowhound-demo
for f in findings.jsonl labels.jsonl report.html model; do
    [ -e "$out_dir/$f" ] || die "demo did not write flowhound-demo/$f"
done
[ -s "$out_dir/findings.jsonl" ] || die "demo wrote no findings"
owners=$(find "$out_dir" -printf '%U:%G\n' | sort | uniq -c | tr -s ' ')
echo "   files written (count uid:gid):$owners"
[ "$(find "$out_dir" ! -uid "$USER_ID" | wc -l)" = 0 ] || die "files not owned by uid $USER_ID: the demo did not run as $USER_ID"
echo "   findings $(wc -l < "$out_dir/findings.jsonl"), written as uid $USER_ID"

say "ok: $IMAGE (runtime $runtime, $((size / 1000000)) MB) in $((SECONDS - t_all)) s"
