# Source me: `source scripts/root-env.sh` (bash or zsh). Points ROOT at ferrograd's C library.
#
# Builds libferrograd_capi (release) and exports
#   LD_LIBRARY_PATH     + the directory of libferrograd_capi.so, so R__LOAD_LIBRARY(libferrograd_capi) finds it
#   ROOT_INCLUDE_PATH   + crates/ferrograd-capi/include, so `#include "ferrograd.h"` works (cling and ACLiC)
# and sources scripts/env.sh (the project venv with ROOT on PATH). No absolute paths to edit:
# everything is found from this script's location (and CARGO_TARGET_DIR if set).

if [ -n "${BASH_SOURCE[0]:-}" ]; then
    _fgr_src="${BASH_SOURCE[0]}"
elif [ -n "${ZSH_VERSION:-}" ]; then
    # shellcheck disable=SC2296
    _fgr_src="${(%):-%x}"
else
    _fgr_src="$0"
fi
_fgr_root="$(cd "$(dirname "$_fgr_src")/.." && pwd)"
# shellcheck source=env.sh
source "$_fgr_root/scripts/env.sh"
if cargo build --release -p ferrograd-capi --manifest-path "$_fgr_root/Cargo.toml" >&2; then
    _fgr_lib="${CARGO_TARGET_DIR:-$_fgr_root/target}/release"
    export LD_LIBRARY_PATH="$_fgr_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export ROOT_INCLUDE_PATH="$_fgr_root/crates/ferrograd-capi/include${ROOT_INCLUDE_PATH:+:$ROOT_INCLUDE_PATH}"
else
    echo "root-env.sh: building ferrograd-capi failed" >&2
fi
unset _fgr_src _fgr_root _fgr_lib
