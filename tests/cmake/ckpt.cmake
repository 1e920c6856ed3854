# Checkpoints (issue 6): LMDB checkpoint store and trajectory store, bit-exact resume.
af_unit_test(test_ckpt TIMEOUT 180)
af_script_test(test_resume mpi bash ${CMAKE_SOURCE_DIR}/tests/test_resume.sh $<TARGET_FILE:agentflow>)
af_unit_test(test_ckpt_fuzz TIMEOUT 300)
af_script_test(test_ckpt_damage cli bash ${CMAKE_SOURCE_DIR}/tests/test_ckpt_damage.sh $<TARGET_FILE:agentflow>)
af_script_test(test_rundir cli bash ${CMAKE_SOURCE_DIR}/tests/test_rundir.sh $<TARGET_FILE:agentflow>)
af_script_test(test_full_disk cli bash ${CMAKE_SOURCE_DIR}/tests/test_full_disk.sh $<TARGET_FILE:agentflow>)
af_script_test(test_slurm cli bash ${CMAKE_SOURCE_DIR}/tests/test_slurm.sh $<TARGET_FILE:agentflow>)
af_script_test(test_ckpt_local cli bash ${CMAKE_SOURCE_DIR}/tests/test_ckpt_local.sh $<TARGET_FILE:agentflow>)
