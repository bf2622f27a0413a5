#!/bin/bash
# A Vulkan device with cooperative matrices on the CPU, for the GPU tests of the
# cooperative-matrix kernel (`shaders/coop_matmul.wgsl`) on a machine without a GPU.
#
# The system's lavapipe (Debian 12: Mesa 22) has no VK_KHR_cooperative_matrix; Mesa 26.1's
# (Debian trixie-backports) multiplies 8×8 f16 tiles. It needs trixie's glibc, so this
# unpacks Mesa, its libraries and that glibc into a folder of their own and writes a `run`
# wrapper that starts a program through that glibc's loader with the new lavapipe as the only
# Vulkan driver. Nothing is installed system-wide. Development only (it downloads from
# deb.debian.org); CI keeps the system's lavapipe, where the kernel's test checks the
# fallback and naga checks the shader.
#
#   scripts/dev/lavapipe26.sh [DIR]     # once: ~60 MB into DIR (default ~/.cache/mixtune/mesa26)
#   DIR/run target/debug/deps/kernel_parity-… coop --nocapture
set -euo pipefail
dir=${1:-$HOME/.cache/mixtune/mesa26}
mirror=http://deb.debian.org/debian
mkdir -p "$dir/debs" "$dir/root"
cd "$dir"
# Mesa 26.1 from trixie-backports and what it needs from trixie, glibc included (the list
# `apt-cache depends --recurse` gives, less what a program's own loader never maps).
packages="mesa-vulkan-drivers libvulkan1 libc6 libgcc-s1 libstdc++6 zlib1g libzstd1 liblzma5
  libllvm19 libz3-4 libxml2 libedit2 libtinfo6 libbsd0 libmd0 libffi8 libexpat1 libelf1t64
  libpng16-16t64 libdrm2 libdrm-common libdrm-amdgpu1 libdisplay-info2 libwayland-client0
  libxshmfence1 libxcb1 libxdmcp6 libxau6 libxcb-xfixes0 libxcb-sync1 libxcb-shm0
  libxcb-randr0 libxcb-present0 libxcb-dri3-0 libx11-xcb1 libx11-6 libx11-data"
for suite in trixie trixie-backports; do
  [ -f "Packages-$suite" ] ||
    curl -fsSL "$mirror/dists/$suite/main/binary-amd64/Packages.xz" | xz -dc > "Packages-$suite"
done
# The pool path of package $1 in suite $2's index (empty when absent).
filename() {
  awk -v want="$1" '/^Package: /{p=$2} /^Filename: /{if (p==want) {print $2; exit}}' "Packages-$2"
}
for package in $packages; do
  path=""
  [ "$package" = mesa-vulkan-drivers ] && path=$(filename "$package" trixie-backports)
  [ -n "$path" ] || path=$(filename "$package" trixie)
  [ -n "$path" ] || { echo "no $package in trixie" >&2; exit 1; }
  deb=debs/$(basename "$path")
  [ -f "$deb" ] || curl -fsSL -o "$deb" "$mirror/$path"
  dpkg -x "$deb" root
done
lib=$dir/root/usr/lib/x86_64-linux-gnu
sed "s#\"library_path\": \"[^\"]*\"#\"library_path\": \"$lib/libvulkan_lvp.so\"#" \
  root/usr/share/vulkan/icd.d/lvp_icd.json > lvp_icd.json
cat > run <<EOF
#!/bin/sh
# Runs a program against Mesa 26.1's lavapipe and trixie's glibc (scripts/dev/lavapipe26.sh).
export VK_ICD_FILENAMES=$dir/lvp_icd.json XDG_RUNTIME_DIR=\${XDG_RUNTIME_DIR:-/tmp}
exec $lib/ld-linux-x86-64.so.2 --library-path $lib:$dir/root/lib/x86_64-linux-gnu "\$@"
EOF
chmod +x run
echo "ready: $dir/run PROGRAM [ARGS]"
