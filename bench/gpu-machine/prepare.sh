#!/usr/bin/env bash
# Packs what bench/gpu-machine/run.sh needs on a bare Linux x86-64 GPU machine into bench/gpu-machine/bundle/
# (gitignored), compressed to stay under the device tool's 64 MiB carry limit:
#
#   bundle/node.xz                       this machine's Node binary (official build, libc + libstdc++ only), xz
#   bundle/node.version                  its version, so a re-run skips the slow compression when unchanged
#   bundle/lib/libvulkan.so.1            the Vulkan loader from Debian's libvulkan1 .deb (apt-get download; falls
#                                        back to the installed copy of that same package when apt cannot fetch)
#   bundle/app/package.json, dist/       the built library and CLI (source maps and .d.ts left out)
#   bundle/app/node_modules/webgpu/      Dawn's package: index.js + package.json + linux-x64 dawn.node.xz
#
# Run here (it builds first):   bash bench/gpu-machine/prepare.sh
# Then, with the device tool:    run  command: bash bench/gpu-machine/run.sh "$OUT"
#                                     carry:   ["bench/gpu-machine/bundle"]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bundle="$here/bundle"
mkdir -p "$bundle/lib" "$bundle/app/node_modules/webgpu/dist/linux-x64"

if [[ "$(uname -m)" != x86_64 ]]; then
  echo "prepare.sh: this machine is $(uname -m); the GPU machine is x86-64, so its node and dawn.node must be x86-64 builds" >&2
  exit 1
fi

echo "== building dist/"
(cd "$root" && npm run build --silent)

echo "== node binary"
node_bin="$(command -v node)"
version="$("$node_bin" --version)"
if [[ -f "$bundle/node.xz" && "$(cat "$bundle/node.version" 2>/dev/null)" == "$version" ]]; then
  echo "   $version already packed"
else
  echo "   packing $node_bin ($version); xz takes a minute or two"
  xz -T0 -6 -c "$node_bin" > "$bundle/node.xz.tmp"
  mv "$bundle/node.xz.tmp" "$bundle/node.xz"
  echo "$version" > "$bundle/node.version"
fi

echo "== Vulkan loader (Debian libvulkan1)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if (cd "$tmp" && apt-get download libvulkan1 >/dev/null 2>&1) && ls "$tmp"/libvulkan1_*.deb >/dev/null 2>&1; then
  dpkg-deb -x "$tmp"/libvulkan1_*.deb "$tmp/x"
  loader="$(find "$tmp/x" -name 'libvulkan.so.1.*' -type f | head -n 1)"
  echo "   from $(basename "$tmp"/libvulkan1_*.deb)"
else
  loader="$(readlink -f "$(dpkg -L libvulkan1 | grep 'libvulkan.so.1$' | head -n 1)")"
  echo "   apt-get download failed; using the installed libvulkan1 ($loader)"
fi
cp "$loader" "$bundle/lib/libvulkan.so.1"

echo "== app: package.json, dist/, webgpu (Dawn)"
rm -rf "$bundle/app/dist"
mkdir -p "$bundle/app/dist"
(cd "$root/dist" && find . -type f ! -name '*.map' ! -name '*.d.ts' -exec cp --parents {} "$bundle/app/dist/" \;)
cp "$root/package.json" "$bundle/app/package.json"
webgpu="$root/node_modules/webgpu"
cp "$webgpu/package.json" "$webgpu/index.js" "$bundle/app/node_modules/webgpu/"
dawn="$webgpu/dist/linux-x64/dawn.node"
if [[ ! -f "$bundle/app/node_modules/webgpu/dist/linux-x64/dawn.node.xz" || "$dawn" -nt "$bundle/app/node_modules/webgpu/dist/linux-x64/dawn.node.xz" ]]; then
  xz -T0 -6 -c "$dawn" > "$bundle/app/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
fi

total="$(du -sb "$bundle" | cut -f1)"
tree="$(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')"
echo "== bundle: $((total / 1048576)) MiB; working tree that travels beside it: $((tree / 1048576)) MiB (limit 64 MiB in all)"
if (( total + tree > 64 * 1048576 )); then
  echo "prepare.sh: bundle + working tree exceed 64 MiB" >&2
  exit 1
fi
du -sh "$bundle"/node.xz "$bundle"/lib/libvulkan.so.1 "$bundle"/app/dist "$bundle"/app/node_modules/webgpu/dist/linux-x64/dawn.node.xz
