#!/usr/bin/env bash
# Builds coordd, tune-agent and coordctl for a bare x86-64 node (glibc >= 2.36, no Swift):
# static Swift stdlib, the non-glibc shared libraries `ldd` lists copied into lib/ and found
# through an rpath of $ORIGIN/lib (DT_RPATH: --disable-new-dtags, so that indirect
# dependencies such as libgfortran are found too). Also builds the GPU bench.
#   tools/bundle.sh OUTDIR      -> OUTDIR/tunefleet/ and OUTDIR/tunefleet-bundle.tar.xz
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:?usage: bundle.sh OUTDIR}" && cd "$1" && pwd)"
limit_mib=60
dest="$out/tunefleet"
rm -rf "$dest" && mkdir -p "$dest/lib"
cd "$root"
# A scratch folder of its own: the static-stdlib flags would otherwise rebuild (and then
# invalidate) the ordinary release build in .build.
flags=(-c release --scratch-path .build-bundle --static-swift-stdlib
       -Xlinker -rpath='$ORIGIN/lib' -Xlinker --disable-new-dtags)
for product in coordd tune-agent coordctl; do
  swift build "${flags[@]}" --product "$product"
done
bin="$(swift build "${flags[@]}" --show-bin-path)"
for exe in coordd tune-agent coordctl; do
  cp "$bin/$exe" "$dest/$exe"
  strip "$dest/$exe"
done
# glibc's own libraries come from the node; everything else travels (cp -L: the real file
# under the soname the binary asks for).
glibc='^(linux-vdso|ld-linux|libc|libm|libpthread|libdl|librt|libresolv|libutil|libanl|libmvec)\.so'
for exe in coordd tune-agent coordctl; do
  ldd "$dest/$exe" | awk '/=> \// { print $1, $3 }'
done | sort -u | while read -r soname path; do
  if [[ "$soname" =~ $glibc ]]; then continue; fi
  cp -L "$path" "$dest/lib/$soname"
done
strip --strip-unneeded "$dest"/lib/*.so* 2>/dev/null || true
# Every binary must resolve from the bundle alone.
for exe in coordd tune-agent coordctl; do
  if ldd "$dest/$exe" | grep -q "not found"; then echo "unresolved libraries in $exe" >&2; exit 1; fi
done
# The GPU bench (one static binary) and its scripts ride along for tools/gpu-check.sh.
"$root/tools/cuda/build_bench.sh" "$dest/bench" > "$out/bench-build.log"
# The three binaries share most of their bytes (static Foundation and ICU data): a
# dictionary larger than one binary lets xz store them once (28 MiB instead of 56 MiB).
# Unpacking needs about 200 MiB of memory.
tar -C "$out" -cf - tunefleet | xz -T1 --lzma2=preset=9,dict=192MiB > "$out/tunefleet-bundle.tar.xz"
size=$(stat -c %s "$out/tunefleet-bundle.tar.xz")
du -sh "$dest" "$dest"/* "$dest"/lib/* | sort -h | tail -20
echo "bundle: $out/tunefleet-bundle.tar.xz $((size / 1024 / 1024)) MiB ($size bytes)"
if [ "$size" -ge $((limit_mib * 1024 * 1024)) ]; then echo "bundle is over $limit_mib MiB" >&2; exit 1; fi
