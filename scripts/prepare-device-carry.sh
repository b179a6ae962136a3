#!/usr/bin/env bash
# prepare-device-carry.sh [--libs-only] - build what the GPU machine runs and gather it in
# .devcarry/ (git-ignored through .git/info/exclude), for bench/run_device.sh (and the older
# bench/run_embed_gpu.sh) there:
#   .devcarry/bins.tar.xz    build for sm_90 with the gRPC server (no OpenBLAS, no -march=native):
#                            test_ops, test_encoder_cuda, embed_gpu, feedrank (with `serve`), load
#   .devcarry/lib/           cJSON and libgomp (what the engine-only binaries need), as before
#   .devcarry/runtime.tar.xz the server's runtime libraries (gRPC, protobuf-c, cJSON, libmicrohttpd
#                            and everything they pull in, minus glibc/libstdc++/libgcc), taken from
#                            Debian's .deb packages with `dpkg -x` (the machine's image has no gRPC
#                            and no registry access); unpacked there into a folder on LD_LIBRARY_PATH
#   .devcarry/minilm-f16/    all-MiniLM-L6-v2 with fp16 weights (45 MB; the fp32 file is 91 MB)
# A call carries at most 64 MiB; the script prints the total. --libs-only refreshes only
# runtime.tar.xz from the binaries already in build-dev/ (or, without them, from build/).
# Needs here: nvcc (CUDA 13), the -dev packages of scripts/install-deps.sh, apt-get download.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
libs_only=0
[ "${1:-}" = "--libs-only" ] && libs_only=1
if [ $libs_only = 0 ]; then
  cmake -S . -B build-dev -DCMAKE_BUILD_TYPE=Release -DFEEDRANK_SERVER=ON -DFEEDRANK_BLAS=OFF -DFEEDRANK_NATIVE=OFF \
    -DCMAKE_C_FLAGS=-march=x86-64-v3 -DFEEDRANK_CUDA=ON -DFEEDRANK_CUDA_ARCH=90 > build-dev.cmake.log
  cmake --build build-dev -j"$(nproc)" --target test_ops test_encoder_cuda embed_gpu feedrank load
  mkdir -p .devcarry/lib
  tar -C build-dev -cJf .devcarry/bins.tar.xz test_ops test_encoder_cuda embed_gpu feedrank load
  for lib in libcjson.so.1 libgomp.so.1; do
    cp -L "$(/sbin/ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')" .devcarry/lib/
  done
fi
bindir=build-dev
[ -x build-dev/feedrank ] || bindir=build

# The packages that own every shared library the server binaries load, except the C/C++ runtime
# (the image's newer glibc and libstdc++ serve Debian 12's builds) and CUDA's own libraries.
pkgs=$(ldd "$bindir/feedrank" "$bindir/load" 2>/dev/null | awk '/=> \// { print $3 }' | sort -u | while read -r f; do
  real=$(readlink -f "$f")
  { dpkg -S "$f" 2>/dev/null || dpkg -S "$real" 2>/dev/null || dpkg -S "/usr$f" 2>/dev/null || true; } | head -1 | cut -d: -f1
done | sort -u | grep -v -x -E 'libc6|libgcc-s1|libstdc\+\+6|' || true)
[ -n "$pkgs" ] || { echo "prepare-device-carry: no packages found for $bindir/feedrank's libraries" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs" "$work/root"
(cd "$work/debs" && apt-get download $pkgs > /dev/null)
for d in "$work"/debs/*.deb; do dpkg -x "$d" "$work/root"; done
mkdir -p "$work/runtime"
for dir in "$work/root/usr/lib/x86_64-linux-gnu" "$work/root/lib/x86_64-linux-gnu"; do
  [ -d "$dir" ] && find "$dir" \( -name '*.so.*' -o -name '*.so' \) -exec cp -a {} "$work/runtime/" \;
done
mkdir -p .devcarry
tar -C "$work/runtime" -cJf .devcarry/runtime.tar.xz .
echo "runtime.tar.xz: $(echo $pkgs | wc -w) packages ($(echo $pkgs | tr '\n' ' ')), $(ls "$work/runtime" | wc -l) files, $(du -h .devcarry/runtime.tar.xz | cut -f1)"
# every library the binaries need must now be found in the carried folder or be the C runtime
missing=$(LD_LIBRARY_PATH="$work/runtime" ldd "$bindir/feedrank" "$bindir/load" | awk '/=> \// { print $3 }' | grep -v -E "^$work/runtime/|/(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|librt)\.so" | grep -v -E 'cuda|cublas|libnvidia' || true)
[ -z "$missing" ] || { echo "prepare-device-carry: not carried: $missing" >&2; exit 1; }
if [ $libs_only = 0 ]; then
  [ -f .devcarry/minilm-f16/model.safetensors ] || "$PY" scripts/make-f16-model.py models/all-MiniLM-L6-v2 .devcarry/minilm-f16
fi
du -sh .devcarry
