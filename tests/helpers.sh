# Shared set-up of the shell tests (sourced): a temporary directory $T removed at exit
# with the background processes listed in BG, the MPI/OpenBLAS environment, and
# check LABEL CONDITION, which prints ok/FAIL and sets fail=1.
T=$(mktemp -d)
BG=()
af_test_cleanup() {
    for p in "${BG[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap af_test_cleanup EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
