#!/usr/bin/env bash
# Boot a throwaway guest (KVM, else TCG) running a stock Debian kernel, load the real
# binder driver in it, and run the static capbinder-bench there.
#
#   tests/bench/vm/run-in-vm.sh [--cpus N] [--mem MiB] [--keep DIR] [--accel auto|kvm|tcg]
#                               [--kernel 6.12|6.1] [--add FILE]... -- ARGS...
#
# ARGS go to capbinder-bench (with --kbinder /dev/binder); if the first is `rawbench`, the rest go to
# capbinder-rawbench instead; if it is `run`, the rest is a command line of
# its own (a program added with --add, say a test binary). --add FILE puts
# FILE (stripped) in the guest at the same absolute path, so that programs
# that name each other by path (cargo's test binaries) find each other.
# Exits with the guest program's status.
#
# Why a VM: the host kernel has no binder, and capbinder should be measured
# beside kernel binder on the same kernel, in the same (virtual) machine.
# Why Debian's kernel: it ships binder_linux.ko (CONFIG_ANDROID_BINDER_IPC=m,
# device "binder", no binderfs), so no kernel build is needed.
set -euo pipefail

CPUS=2 MEM=2048 KEEP="" ACCEL=${VM_ACCEL:-auto} KSER=${VM_KERNEL:-6.12}
usage() { sed -n '5,6p' "$0" | sed 's/^# *//' >&2; exit 2; }
ADD=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cpus) CPUS=$2; shift 2 ;;
    --mem)  MEM=$2;  shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;   # leave the initramfs tree + console log here
    --accel) ACCEL=$2; shift 2 ;;
    --kernel) KSER=$2; shift 2 ;;
    --add) ADD+=("$(realpath "$2")"); shift 2 ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) echo "run-in-vm: unknown option $1" >&2; usage ;;
  esac
done

ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$ROOT"
# Downloads and extracted kernels are big and must never be committed: keep
# them under tests/bench/target, which is git-ignored, and check it.
WORK=${VM_WORK:-$ROOT/tests/bench/target/vm}
mkdir -p "$WORK"
git check-ignore -q "$WORK/probe" || { echo "run-in-vm: $WORK is not git-ignored" >&2; exit 2; }
log() { echo "run-in-vm: $*" >&2; }

# --- host tools: install only what is absent, so repeat runs need no network
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[[ -x /bin/busybox ]] && /bin/busybox --list 2>/dev/null | grep -qx insmod || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v depmod >/dev/null || [[ -x /sbin/depmod ]] || need+=(kmod)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get install -y --no-install-recommends "${need[@]}" >&2 || {
    apt-get update >&2; apt-get install -y --no-install-recommends "${need[@]}" >&2; }
fi
# A dynamically linked busybox would need libc in the initramfs too.
file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' ||
  ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' || { log "/bin/busybox is not static"; exit 2; }

# --- kernel: the newest generic (not cloud/rt: cloud lacks most drivers)
# image of the chosen series; the .deb is cached, so later runs are offline.
# Default 6.12, the newer of the two (6.1 is Debian 12's own, where the
# mediator takes its pre-6.9 path: no PIDFD_THREAD, threads pinned by
# process). 6.12 comes from bookworm-backports, read through a private apt state dir so
# the host's apt configuration is left alone.
APT=()
if [[ $KSER != 6.1 ]]; then
  A=$WORK/apt-bpo; mkdir -p "$A/lists/partial" "$A/cache/archives/partial"
  echo "deb http://deb.debian.org/debian ${VM_SUITE:-bookworm-backports} main" >"$A/sources.list"
  APT=(-o Dir::Etc::SourceList="$A/sources.list" -o Dir::Etc::SourceParts=/nonexistent
       -o Dir::State::Lists="$A/lists" -o Dir::Cache="$A/cache")
  compgen -G "$A/lists/*Packages*" >/dev/null || apt-get "${APT[@]}" update >&2
fi
# Names look like linux-image-6.1.0-48-amd64-unsigned or
# linux-image-6.12.95+deb12-amd64-unsigned; no '-' in the middle part keeps
# out the -cloud- and -rt- flavours.
PKG=$(apt-cache "${APT[@]}" pkgnames "linux-image-$KSER." |
  grep -E "^linux-image-${KSER//./\\.}\.[0-9]+[-+][0-9a-z+]*-amd64-unsigned\$" | sort -V | tail -1 || true)
[[ -n $PKG ]] || { log "no linux-image-$KSER.*-amd64-unsigned known to apt (apt-get update?)"; exit 2; }
KVER=${PKG#linux-image-}; KVER=${KVER%-unsigned}
KDIR=$WORK/$PKG
if [[ ! -f $KDIR/.done ]]; then
  log "fetching $PKG"
  rm -rf "$KDIR"; mkdir -p "$KDIR"
  # (As root, apt warns it downloads "unsandboxed": harmless here.)
  ls "$WORK"/"${PKG}"_*.deb >/dev/null 2>&1 || (cd "$WORK" && apt-get "${APT[@]}" download "$PKG" >&2)
  dpkg-deb -x "$(ls "$WORK"/"${PKG}"_*.deb | sort -V | tail -1)" "$KDIR/root"
  touch "$KDIR/.done"
fi
VMLINUZ=$KDIR/root/boot/vmlinuz-$KVER
MODDIR=$KDIR/root/lib/modules/$KVER
# The package ships no modules.dep (its postinst makes it): make it here.
[[ -f $MODDIR/modules.dep ]] || PATH=$PATH:/sbin:/usr/sbin depmod -b "$KDIR/root" "$KVER"
[[ -f $VMLINUZ && -f $MODDIR/modules.dep ]] || { log "bad kernel tree in $KDIR"; exit 2; }

# binder_linux plus whatever modules.dep says it needs. modules.dep lists a
# module's dependencies nearest-first, so load them in reverse, then binder.
depline=$(grep -E '(^|/)binder_linux\.ko(\.xz|\.zst|\.gz)?:' "$MODDIR/modules.dep") ||
  { log "binder_linux not in $MODDIR/modules.dep"; exit 2; }
read -r -a deps <<<"${depline#*:}"
mods=()
for ((i = ${#deps[@]} - 1; i >= 0; i--)); do mods+=("${deps[i]}"); done
mods+=("${depline%%:*}")

# --- static binaries. cargo is incremental (and waits on a concurrent build
# of the same target via its lock), so always running it is cheap and never stale.
log "building static (musl) binaries"
cargo build --release --manifest-path tests/bench/Cargo.toml --target x86_64-unknown-linux-musl >&2
cargo build --release -p capbinder-kmod-shim --bins --target x86_64-unknown-linux-musl >&2
BENCH=tests/bench/target/x86_64-unknown-linux-musl/release/capbinder-bench
SHIMREL=target/x86_64-unknown-linux-musl/release

# --- initramfs: busybox + binaries + modules + /init. No disk image: nothing
# to partition or mount, and each run starts from the same state.
if [[ -n $KEEP ]]; then
  # Never clear a directory the user had: only a new or empty one is used.
  if [[ -e $KEEP ]] && [[ -n $(ls -A "$KEEP" 2>/dev/null) || ! -d $KEEP ]]; then
    log "--keep $KEEP: give a new or empty directory"; exit 2
  fi
  mkdir -p "$KEEP"; T=$KEEP
else T=$(mktemp -d "$WORK/run.XXXXXX"); trap 'rm -rf "$T"' EXIT; fi
IR=$T/initramfs
mkdir -p "$IR"/{bin,dev,proc,sys,tmp,run,lib/modules}
cp /bin/busybox "$IR/bin/"
for a in $(/bin/busybox --list); do [[ -e $IR/bin/$a ]] || ln -s busybox "$IR/bin/$a"; done
# rawbench finds capbinderd next to itself, so they share /bin.
cp "$BENCH" "$SHIMREL/capbinder-rawbench" "$SHIMREL/capbinderd" "$IR/bin/"
for f in "${ADD[@]}"; do
  mkdir -p "$IR$(dirname "$f")"
  strip --strip-debug -o "$IR$f" "$f" 2>/dev/null || cp "$f" "$IR$f"
done
: >"$IR/lib/modules/load"
for m in "${mods[@]}"; do
  base=$(basename "$m"); src=$MODDIR/$m; dst=$IR/lib/modules/${base%.ko*}.ko
  # busybox insmod reads plain ELF only: decompress here, not in the guest.
  case "$m" in
    *.xz)  xz -dc "$src" >"$dst" ;;
    *.zst) zstd -qdc "$src" >"$dst" ;;
    *.gz)  gzip -dc "$src" >"$dst" ;;
    *)     cp "$src" "$dst" ;;
  esac
  echo "${dst#"$IR"}" >>"$IR/lib/modules/load"
done
# Pass ARGS through a file, single-quoted for ash: the kernel command line
# would split and mangle them.
{ printf 'set --'; for a in "$@"; do printf " '%s'" "${a//\'/\'\\\'\'}"; done; echo; } >"$IR/args"

cat >"$IR/init" <<'EOF'
#!/bin/busybox sh
export PATH=/bin HOME=/tmp XDG_RUNTIME_DIR=/run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /dev/pts /sys/fs/cgroup /usr/bin /usr/lib /etc  # what tests expect of a system
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp    # the benches put their sockets here
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null || true
ifconfig lo 127.0.0.1 up 2>/dev/null || true
while read -r m; do insmod "$m" || echo "VM-WARN insmod $m failed"; done </lib/modules/load
# devtmpfs normally creates the node; fall back to the misc device number.
if [ ! -c /dev/binder ] && [ -r /sys/class/misc/binder/dev ]; then
  IFS=: read -r maj min </sys/class/misc/binder/dev; mknod /dev/binder c "$maj" "$min"
fi
ls -l /dev/binder || echo "VM-WARN no /dev/binder"
# In a subshell: a failed exec redirection ends the shell, and this is init.
if [ -c /dev/binder ] && (exec 3<>/dev/binder) 2>/dev/null; then echo "VM-INFO /dev/binder opens"
else echo "VM-WARN /dev/binder does not open"; fi
echo "VM-INFO kernel $(uname -r) cpus $(nproc) mem $(awk '/MemTotal/{print $2" kB"}' /proc/meminfo)"
. /args
# The benchmarks measure kernel binder only on a device named to them (on
# a real host its benchmark server would keep the device's context manager
# uid): this throwaway guest names its /dev/binder.
prog=capbinder-bench
case "$1" in
  rawbench) shift; prog=capbinder-rawbench ;;
  run) shift; prog= ;;
esac
if [ -n "$prog" ]; then
  case " $* " in *" --kbinder"*) ;; *) set -- --kbinder /dev/binder "$@" ;; esac
  set -- "$prog" "$@"
fi
echo "VM-RUN $*"
cd /tmp
"$@" 2>&1
echo "VM-EXIT rc=$?"
sync
poweroff -f
EOF
chmod +x "$IR/init"
(cd "$IR" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$T/initramfs.gz"

# --- accelerator. A PVM host (module kvm_pvm, e.g. some cloud sandboxes)
# offers /dev/kvm but runs only PVM-aware guest kernels: a stock kernel dies
# on an MSR assertion with -cpu host and spins silently otherwise. There we
# fall back to TCG (software emulation): slower, but the same for every case.
if [[ $ACCEL == auto ]]; then
  if [[ -w /dev/kvm && ! -d /sys/module/kvm_pvm ]]; then ACCEL=kvm
  else ACCEL=tcg; log "no usable KVM for a stock kernel (PVM host or no /dev/kvm): using TCG"; fi
fi
case $ACCEL in
  kvm) QACCEL=(-enable-kvm -cpu host) ;;
  tcg) QACCEL=(-accel tcg,thread=multi -cpu max) ;;
  *) log "--accel must be auto, kvm or tcg"; exit 2 ;;
esac

# --- boot. No network, no disk; panic=-1 with -no-reboot makes qemu exit if
# init dies, and the timeout catches a guest that hangs.
log "booting $KVER (accel=$ACCEL cpus=$CPUS mem=${MEM}MiB)"
CONSOLE=$T/console.log
start=$(date +%s)
set +e
timeout "${VM_TIMEOUT:-3600}" qemu-system-x86_64 "${QACCEL[@]}" -smp "$CPUS" -m "$MEM" \
  -nographic -no-reboot -nic none \
  -kernel "$VMLINUZ" -initrd "$T/initramfs.gz" \
  -append "console=ttyS0 quiet panic=-1 rdinit=/init" </dev/null 2>&1 |
  tr -d '\r' | sed -u 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' | tee "$CONSOLE"
qrc=${PIPESTATUS[0]}
set -e
log "guest ran $(($(date +%s) - start))s (qemu rc=$qrc)"
rc=$(sed -n 's/^VM-EXIT rc=\([0-9]*\).*/\1/p' "$CONSOLE" | tail -1)
if [[ -z $rc ]]; then
  [[ $qrc == 124 ]] && log "timed out after ${VM_TIMEOUT:-3600}s (VM_TIMEOUT)"
  log "no 'VM-EXIT rc=' line from the guest: the run did not finish"; exit 3
fi
exit "$rc"
