# Source me: `source scripts/env.sh` (bash or zsh).
#
# Makes sure the LibTorch venv exists (scripts/setup-torch.sh, idempotent) and
# exports what building the LibTorch crates needs:
#   LIBTORCH_USE_PYTORCH=1   torch-sys / ferrograd-torch-sys ask `python` for libtorch
#   VIRTUAL_ENV, PATH        the venv's python first on PATH
# No LD_LIBRARY_PATH: binaries find libtorch through their rpath (see
# crates/ferrograd-torch/build.rs).

if [ -n "${BASH_SOURCE[0]:-}" ]; then
    _fg_env_script="${BASH_SOURCE[0]}"
elif [ -n "${ZSH_VERSION:-}" ]; then
    # shellcheck disable=SC2296
    _fg_env_script="${(%):-%x}"
else
    _fg_env_script="$0"
fi
_fg_root="$(cd "$(dirname "$_fg_env_script")/.." && pwd)"

if _fg_venv="$("$_fg_root/scripts/setup-torch.sh")"; then
    export FERROGRAD_TORCH_VENV="$_fg_venv"
    export VIRTUAL_ENV="$_fg_venv"
    case ":$PATH:" in
        *":$_fg_venv/bin:"*) ;;
        *) export PATH="$_fg_venv/bin:$PATH" ;;
    esac
    export LIBTORCH_USE_PYTORCH=1
else
    echo "env.sh: scripts/setup-torch.sh failed; LibTorch crates will not build" >&2
fi
unset _fg_env_script _fg_root _fg_venv
