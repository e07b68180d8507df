# Source me: `source scripts/root-env.sh` (bash or zsh). Points ROOT at ferrograd's C library.
#
# Builds libferrograd_capi (release) and exports
#   LD_LIBRARY_PATH     + the directory of libferrograd_capi.so, so R__LOAD_LIBRARY(libferrograd_capi) finds it
#   ROOT_INCLUDE_PATH   + crates/ferrograd-capi/include, so `#include "ferrograd.h"` works (cling and ACLiC)
# and sources scripts/env.sh (the project venv with ROOT on PATH). No absolute paths to edit:
# everything is found from this script's location (and CARGO_TARGET_DIR if set).

if [ -n "${BASH_SOURCE[0]:-}" ]; then
    _fg_rs="${BASH_SOURCE[0]}"
elif [ -n "${ZSH_VERSION:-}" ]; then
    # shellcheck disable=SC2296
    _fg_rs="${(%):-%x}"
else
    _fg_rs="$0"
fi
_fg_root="$(cd "$(dirname "$_fg_rs")/.." && pwd)"
# shellcheck source=env.sh
source "$_fg_root/scripts/env.sh"
if cargo build --release -p ferrograd-capi --manifest-path "$_fg_root/Cargo.toml" >&2; then
    _fg_lib="${CARGO_TARGET_DIR:-$_fg_root/target}/release"
    export LD_LIBRARY_PATH="$_fg_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export ROOT_INCLUDE_PATH="$_fg_root/crates/ferrograd-capi/include${ROOT_INCLUDE_PATH:+:$ROOT_INCLUDE_PATH}"
else
    echo "root-env.sh: building ferrograd-capi failed" >&2
fi
unset _fg_rs _fg_root _fg_lib
