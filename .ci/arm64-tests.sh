#!/usr/bin/env bash
# Runtime.Tests on Arm64, where Vector128 is NEON with 32 registers: the register blocks sized for that file, and the
# AdvSimd branches of the transposes, the half widening and the pairwise sums, which no x64 run reaches. The tests are
# published for linux-arm64 (self-contained; xUnit v3 makes the assembly its own runner) and run under qemu-user's
# emulation of an Arm64 CPU, on a sysroot of Debian's arm64 C and C++ runtimes and OpenSSL (the runner hashes test IDs).
# Emulation checks what the kernels compute on NEON, not how fast: no timing from here means anything. Then the Arm64
# JIT's listings of some of the kernels, for vector registers kept on the stack in inner loops.
#
# Needs root and Debian's package archive, for qemu-user-static and the four arm64 packages; where either is missing
# it says so and runs nothing, rather than fail the build over the machine. Leaves the machine's dpkg architectures as
# it found them.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

skip() {
  echo "NOTE: the Arm64 (NEON) tests did not run: $*. Only the x64 paths were tested."
  exit 0
}

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get > /dev/null; then
  skip "installing qemu-user-static and the arm64 sysroot needs root and apt-get"
fi

# A fresh machine may have no package lists yet ("Unable to locate package"), so they are read first.
if ! command -v qemu-aarch64-static > /dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static; } > "$work/apt.log" 2>&1 \
    || { tail -5 "$work/apt.log"; skip "apt-get could not install qemu-user-static"; }
fi

# The sysroot: the packages' files unpacked into a folder, nothing installed. apt-get download needs arm64 among
# dpkg's architectures for as long as it takes.
added=false
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
  added=true
fi
fetched=true
(cd "$work" && apt-get update -qq > apt-update.log 2>&1 \
  && apt-get download libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64 libssl3:arm64 > apt-download.log 2>&1) || fetched=false
if $added; then
  dpkg --remove-architecture arm64
fi
if ! $fetched; then
  tail -5 "$work"/apt-*.log
  skip "apt-get could not download the arm64 runtime libraries"
fi
for deb in "$work"/*.deb; do
  dpkg -x "$deb" "$work/sysroot"
done

dotnet publish "$root/Runtime.Tests/Runtime.Tests.csproj" -c Release -r linux-arm64 --self-contained -o "$work/tests" --nologo -v quiet
if command -v file > /dev/null; then
  echo "published: $(file -b "$work/tests/AttentionGen.Runtime.Tests" | cut -d, -f1-2)"
fi

# Without ICU (globalization-invariant, as the tests need nothing else), and with executable memory mapped once rather
# than twice (W^X): under qemu-user the double mapping made Roslyn's in-memory compilation fault.
arm64() {
  DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_EnableWriteXorExecute=0 \
    qemu-aarch64-static -L "$work/sysroot" "$work/tests/AttentionGen.Runtime.Tests" -noColor "$@"
}
arm64

# The Arm64 JIT's listings of the declared kernels' tests and the cached ones (row blocks, one-row and group kernels,
# Half widening, masks, head dims from 3 to 512), twice, read as .ci/run reads the x64 listings: no vector
# register stored to the stack in an inner loop.
listings=()
for run in 1 2; do
  listings+=("$work/listing-$run.txt")
  DOTNET_JitDisasm='*' DOTNET_JitStdOutFile="$work/listing-$run.txt" arm64 -class AttentionGen.Runtime.Tests.DeclaredKernelTests -class AttentionGen.Runtime.Tests.CachedForwardTests > /dev/null
done
dotnet run "$root/.ci/jit-listings.cs" -- "Arm64, Vector128 (NEON)" "${listings[@]}"
