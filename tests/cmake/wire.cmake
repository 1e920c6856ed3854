# Wire layer: checksums, trajectories, weight broadcast (common/checksum, traj, weights).
af_unit_test(test_checksum)
af_unit_test(test_traj)
