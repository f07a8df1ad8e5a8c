#!/usr/bin/env bash
# Type-checks the core, the driver and the device application for a real
# ESP32 target, riscv32imc-esp-espidf (ESP32-C3), without ESP-IDF and
# without touching the system toolchain (issue 7).
#
# The target is tier 3: no prebuilt std, so std is compiled from source with
# -Zbuild-std. The compiler is Debian's rustc-web (Rust 1.96), which has the
# espidf targets, with its std sources from rust-web-src. Nothing is
# installed: the packages are fetched with `apt-get download` and unpacked
# with `dpkg -x` into a cache directory; RUSTC points at the unpacked rustc.
#
#   bash scripts/check-esp-target.sh
#
# Environment:
#   ESP_CHECK_CACHE       where the packages are unpacked (/tmp/esp-check);
#                         kept between runs, so the second run downloads
#                         nothing. Delete it to fetch again.
#   ESP_CHECK_TARGET_DIR  cargo's target directory for this check
#                         (${CARGO_TARGET_DIR:-target}/esp-check), apart from
#                         the host build's.
#
# Needs apt (Debian bookworm with bookworm-security, where rustc-web 1.96
# is), and, like every cargo build of this workspace, crates.io: std's own
# dependencies (libc, hashbrown, ...) are fetched from there by cargo.
# Xtensa chips (esp32, esp32s3) cannot be checked this way: their targets
# need Espressif's LLVM fork.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
target=riscv32imc-esp-espidf
packages=(rustc-web rust-web-src)
cache=${ESP_CHECK_CACHE:-/tmp/esp-check}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
root=$cache/root
stamp=$cache/packages.txt
target_dir=${ESP_CHECK_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/esp-check}

say() { echo "check-esp-target: $*"; }
die() {
  echo "check-esp-target: error: $*" >&2
  exit 1
}

for tool in cargo apt-get apt-cache dpkg-deb tar; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (this script needs cargo and Debian's apt/dpkg)"
done

# Which packages apt would add to this machine for rustc-web and
# rust-web-src: the compiler, librustc_driver and the host std
# (libstd-rust-web-1.96, libstd-rust-web-dev), the LLVM it links
# (libllvm22) and whatever else is missing here. Prints "name=version".
missing_packages() {
  apt-get -s -q install --no-install-recommends "${packages[@]}" 2>/dev/null |
    sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p'
}

# One package's files, with `dpkg -x`, into $root. From rust-web-src (the
# whole rustc source tree, 430 MB unpacked) only library/ is kept, and the
# rustlib/src/rust link to it: -Zbuild-std needs no more.
unpack() {
  local deb=$1
  case $deb in
    rust-web-src_*)
      dpkg-deb --fsys-tarfile "$deb" |
        tar -x -C "$root" --wildcards './usr/src/rustc-*/library' './usr/lib/rustlib/src'
      ;;
    *) dpkg -x "$deb" "$root" ;;
  esac
}

if [ -s "$stamp" ] && [ -x "$root/usr/bin/rustc" ]; then
  say "using the packages unpacked in $cache: $(tr '\n' ' ' <"$stamp")"
else
  say "fetching ${packages[*]} (not installed: unpacked into $cache)"
  # An empty or stale package list (a fresh container) has no rustc-web.
  if ! apt-cache show rustc-web >/dev/null 2>&1 || [ -z "$(missing_packages)" ]; then
    [ "$(id -u)" -eq 0 ] || die "apt's package lists do not have rustc-web: run 'apt-get update' as root"
    say "apt-get update"
    apt-get update -qq
  fi
  mapfile -t wanted < <(missing_packages)
  [ "${#wanted[@]}" -gt 0 ] ||
    die "apt offers no rustc-web/rust-web-src to fetch (are they installed? this script wants them unpacked, not installed)"
  printf '%s\n' "${wanted[@]}" | grep -q '^rustc-web=1\.96\.' ||
    say "warning: expected rustc-web 1.96, apt offers: ${wanted[*]}"
  # Only what this script writes is removed (the cache may be any directory).
  rm -rf "$root" "$cache/debs" "$stamp"
  mkdir -p "$cache/debs" "$root"
  # As root, apt drops to its _apt user to download, which cannot write
  # here: download as root instead (no warning).
  sandbox=()
  [ "$(id -u)" -ne 0 ] || sandbox=(-o APT::Sandbox::User=root)
  if ! (cd "$cache/debs" && apt-get download -q "${sandbox[@]}" "${wanted[@]}"); then
    # Stale package lists name versions the archive no longer has.
    [ "$(id -u)" -eq 0 ] || die "apt-get download ${wanted[*]} failed (stale package lists? run 'apt-get update' as root)"
    say "download failed: apt-get update, then again"
    apt-get update -qq
    mapfile -t wanted < <(missing_packages)
    (cd "$cache/debs" && apt-get download -q "${sandbox[@]}" "${wanted[@]}") ||
      die "apt-get download ${wanted[*]} failed"
  fi
  for deb in "$cache/debs"/*.deb; do
    (cd "$cache/debs" && unpack "$(basename "$deb")")
  done
  rm -rf "$cache/debs"
  printf '%s\n' "${wanted[@]}" >"$stamp"
  say "unpacked: ${wanted[*]}"
fi

export RUSTC=$root/usr/bin/rustc
# librustc_driver, libLLVM and any other unpacked library (multiarch dirs).
libdirs=
for dir in "$root"/usr/lib/*-linux-gnu* "$root"/lib/*-linux-gnu*; do
  [ -d "$dir" ] && libdirs=$libdirs${libdirs:+:}$dir
done
export LD_LIBRARY_PATH=$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# -Z flags on a stable-channel compiler and cargo.
export RUSTC_BOOTSTRAP=1

version=$("$RUSTC" -V 2>&1) || die "the unpacked rustc does not run: $version (missing libraries: $(ldd "$RUSTC" "$root"/usr/lib/*/librustc_driver-*.so 2>/dev/null | grep 'not found' | sort -u | tr -s '\t\n' '  ')); delete $cache to fetch again"
sysroot=$("$RUSTC" --print sysroot)
# -Zbuild-std takes std's sources from the sysroot: lib/rustlib/src/rust.
[ -f "$sysroot/lib/rustlib/src/rust/library/Cargo.lock" ] ||
  die "no std sources at $sysroot/lib/rustlib/src/rust/library (rust-web-src)"
"$RUSTC" --print target-list | grep -qx "$target" || die "$version has no target $target"

cmd=(cargo check -Zbuild-std=std,panic_abort --target "$target"
  -p mqtt-core -p mqtt-driver -p device-app)
say "$version, sysroot $sysroot"
say "CARGO_TARGET_DIR=$target_dir ${cmd[*]}"
CARGO_TARGET_DIR=$target_dir "${cmd[@]}"
say "$target: checked in $((SECONDS - start)) s"
