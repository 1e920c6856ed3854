# Wire layer: checksums, trajectories, weight broadcast (common/checksum, traj, weights).
af_unit_test(test_checksum)
af_unit_test(test_traj)
af_mpi_test(test_traj_mpi NP 1 2 4)
