#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# testpmd_variants: the testpmd_forward traffic (exact frame and byte counts
# end to end, both directions, 64 and 1518 bytes) once per virtio_user
# variant, each in a fresh sandbox:
#   packed_vq=1   packed virtqueues (VIRTIO_F_RING_PACKED)
#   mrg_rxbuf=0   no mergeable receive buffers
#   in_order=1    VIRTIO_F_IN_ORDER: the driver's in-order paths
#   packed_vq=1,in_order=1
#                 the same on packed virtqueues
#   vectorized=1  the driver's vectorized paths where it can use them
# NVH_TP_VARIANTS overrides the list (space separated devargs).
here=$(dirname "$0")
variants=${NVH_TP_VARIANTS:-"packed_vq=1 mrg_rxbuf=0 in_order=1 packed_vq=1,in_order=1 vectorized=1"}

failed=()
skipped=0
ran=0
# The feature bits each variant must have negotiated (1) or not (0):
# RING_PACKED 34, MRG_RXBUF 15, IN_ORDER 35.
declare -A checks=(
    [packed_vq=1]="34=1"
    [mrg_rxbuf=0]="15=0 34=0"
    [in_order=1]="35=1 34=0"
    [packed_vq=1,in_order=1]="35=1 34=1"
    [vectorized=1]="34=0"
)

for v in $variants; do
    echo "=== testpmd_forward with virtio_user $v"
    NVH_TP_DEVARGS=",$v" NVH_FEATURE_CHECKS="${checks[$v]:-}" \
        bash "$here/testpmd_forward.sh"
    rc=$?
    case $rc in
    0) ran=$((ran + 1)) ;;
    77) skipped=$((skipped + 1)) ;;
    *) failed+=("$v (exit $rc)") ;;
    esac
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "testpmd_variants: FAILED: ${failed[*]}"
    exit 1
fi
if [ "$ran" -eq 0 ] && [ "$skipped" -gt 0 ]; then
    echo "testpmd_variants: skipped (prerequisites missing)"
    exit 77
fi
echo "testpmd_variants: PASS ($ran variants)"
