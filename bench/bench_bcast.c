/* Weight broadcast benchmark (run under mpirun, 2-4 ranks): the learner-0 -> actors path
 * of every training iteration, against references measured in the same run on the same
 * bytes:
 *   publish    rank 0 af_weights_publish (control message + af_weights_bcast: header,
 *              checksummed payload) on a communicator with run.weights_transport = auto
 *              attached, as training does; the other ranks do what af_actor_run does
 *              per iteration (control broadcast, af_weights_bcast, count check);
 *   weights    af_weights_bcast alone over chunked MPI broadcasts (transport bcast; its
 *              checksum/header/payload split is printed);
 *   weights_shm af_weights_bcast alone through node-shared memory (transport shm,
 *              common/weights_shm.h; with --split-nodes K over K simulated nodes);
 *   mpi_bcast  one MPI_Bcast of a plain float buffer of the same size;
 *   memcpy     a memcpy of the same bytes on rank 0 (the other ranks wait, sleeping).
 * Parameter counts are those of model A (d_model 256, 4 layers, 4 heads, d_ff 704, vocab
 * 512) and model B (d_model 512, 8 layers, 8 heads, d_ff 1408, vocab 2048) as the model
 * module lays them out. One repetition runs every method once, in turn (so machine noise
 * hits them alike); the time of a method is the largest over ranks from a common barrier
 * to its end on that rank. Prints min/median/max and appends CSV rows (default
 * bench/results/bcast.csv; the header is written when the file is empty).
 *
 *   mpirun -np P bench_bcast [--models A,B] [--reps N] [--chunk-elems N] [--depth N] [--slot-elems N]
 *                            [--slots N] [--split-nodes K] [--long] [--csv PATH]
 * --long multiplies the repetitions by 5. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/actor_loop.h"
#include "bench/bench_common.h"
#include "common/error.h"
#include "common/model.h"
#include "common/mpi_env.h"
#include "common/protocol.h"
#include "common/weights.h"
#include "common/weights_shm.h"

enum { M_PUBLISH, M_WEIGHTS, M_WEIGHTS_SHM, M_MPI_BCAST, M_MEMCPY, M_COUNT };
static const char *const method_name[M_COUNT] = {"publish", "weights", "weights_shm", "mpi_bcast", "memcpy"};

/* The communicators of the methods: plain (MPI broadcasts), shm (shared memory), pub (auto). */
typedef struct {
    MPI_Comm plain, shm, pub;
} Comms;

static size_t model_params(char which) {
    AfModelConfig c = af_model_config_default();
    c.max_seq = 1024;
    if (which == 'A') c.vocab_size = 512, c.d_model = 256, c.n_layers = 4, c.n_heads = 4, c.n_kv_heads = 4, c.d_ff = 704;
    else c.vocab_size = 2048, c.d_model = 512, c.n_layers = 8, c.n_heads = 8, c.n_kv_heads = 8, c.d_ff = 1408;
    AfModel *m = NULL;
    if (af_model_create(&c, 0, 0, 0, &m)) return 0;
    size_t n = m->n_params;
    af_model_destroy(m);
    return n;
}

/* One timed run of method k; returns this rank's seconds from the barrier, or < 0. */
static double run_once(int k, int rank, const Comms *cm, float *buf, float *dst, size_t n, uint64_t version,
                       const AfWeightsOpts *wo, AfWeightsTiming *wt) {
    int rc = af_mpi_barrier(MPI_COMM_WORLD);
    if (rc) return -1;
    double t0 = af_time_now();
    size_t count = n;
    uint64_t v = version;
    switch (k) {
    case M_PUBLISH:
        if (rank == 0) {
            rc = af_weights_publish(cm->pub, AF_CTRL_RUN, (uint32_t)version, version, buf, n, NULL);
        } else {
            AfControl c;
            rc = af_mpi_bcast(&c, sizeof c, MPI_BYTE, 0, cm->pub);
            if (rc == 0 && c.command != AF_CTRL_RUN) rc = af_error_set(AF_EFORMAT, "control command %u", c.command);
            if (rc == 0) rc = af_weights_bcast(buf, n, &count, &v, 0, cm->pub, NULL, NULL);
            if (rc == 0 && (count != n || v != version))
                rc = af_error_set(AF_ERANGE, "received %zu weights v%llu", count, (unsigned long long)v);
        }
        break;
    case M_WEIGHTS:
        rc = af_weights_bcast(buf, n, &count, &v, 0, cm->plain, wo, wt);
        break;
    case M_WEIGHTS_SHM:
        rc = af_weights_bcast(buf, n, &count, &v, 0, cm->shm, wo, NULL);
        break;
    case M_MPI_BCAST:
        rc = af_mpi_check(MPI_Bcast(buf, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD), "MPI_Bcast");
        break;
    case M_MEMCPY:
        if (rank == 0) {
            memcpy(dst, buf, n * sizeof(float));
            __asm__ volatile("" : : "r"(dst) : "memory");
        }
        break;
    }
    double dt = af_time_now() - t0;
    if (rc) {
        fprintf(stderr, "bench_bcast rank %d %s: %s: %s\n", rank, method_name[k], af_strerror(rc), af_error_detail());
        return -1;
    }
    /* The memcpy is rank 0's alone: the others waited in the barrier, not in the copy. */
    return k == M_MEMCPY && rank != 0 ? 0.0 : dt;
}

int main(int argc, char **argv) {
    AfMpi mpi;
    if (af_mpi_init(&argc, &argv, &mpi)) {
        fprintf(stderr, "bench_bcast: %s\n", af_error_detail());
        return 1;
    }
    const char *models = "A,B", *csv_path = "bench/results/bcast.csv";
    int reps = 9, lng = 0, rc = 0;
    AfWeightsOpts wo = {0};
    AfWeightsTransportOpts so = {.method = AF_WEIGHTS_TRANSPORT_SHM}, po = {.method = AF_WEIGHTS_TRANSPORT_AUTO};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) models = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--chunk-elems") == 0 && i + 1 < argc) wo.chunk_elems = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--depth") == 0 && i + 1 < argc) wo.depth = atoi(argv[++i]);
        else if (strcmp(argv[i], "--slot-elems") == 0 && i + 1 < argc) so.slot_elems = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--slots") == 0 && i + 1 < argc) so.slots = atoi(argv[++i]);
        else if (strcmp(argv[i], "--split-nodes") == 0 && i + 1 < argc) so.split_nodes = atoi(argv[++i]);
        else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) csv_path = argv[++i];
        else if (strcmp(argv[i], "--long") == 0) lng = 1;
        else {
            if (mpi.rank == 0)
                fprintf(stderr, "usage: mpirun -np P bench_bcast [--models A,B] [--reps N] [--chunk-elems N] "
                                "[--depth N] [--slot-elems N] [--slots N] [--split-nodes K] [--long] [--csv PATH]\n");
            af_mpi_finalize(&mpi);
            return 2;
        }
    }
    if (lng) reps *= 5;
    Comms cm = {MPI_COMM_NULL, MPI_COMM_NULL, MPI_COMM_NULL};
    po.split_nodes = so.split_nodes, po.slot_elems = so.slot_elems, po.slots = so.slots;
    MPI_Comm_dup(MPI_COMM_WORLD, &cm.plain);
    MPI_Comm_dup(MPI_COMM_WORLD, &cm.shm);
    MPI_Comm_dup(MPI_COMM_WORLD, &cm.pub);
    int chosen = -1;
    if (af_weights_transport_attach(cm.shm, &so, NULL) || af_weights_transport_attach(cm.pub, &po, &chosen)) {
        fprintf(stderr, "bench_bcast: weights transport: %s\n", af_error_detail());
        af_mpi_finalize(&mpi);
        return 1;
    }
    if (reps < 1) reps = 1;
    FILE *csv = NULL;
    if (mpi.rank == 0) {
        csv = fopen(csv_path, "a");
        if (!csv) fprintf(stderr, "bench_bcast: cannot write %s (continuing without CSV)\n", csv_path);
        else if (ftell(csv) == 0)
            fprintf(csv, "model,params,bytes,ranks,method,chunk_elems,depth,reps,min_s,median_s,max_s,median_GBps,"
                         "ratio_vs_memcpy,ratio_vs_mpi_bcast\n");
        if (mpi.size < 2) fprintf(stderr, "bench_bcast: 1 rank: run under mpirun -np 2..4 for broadcast figures\n");
    }
    for (const char *p = models; *p && rc == 0; p++) {
        if (*p != 'A' && *p != 'B') continue;
        size_t n = model_params(*p), bytes = n * sizeof(float);
        float *buf = NULL, *dst = NULL;
        double *t = malloc(sizeof(double) * (size_t)reps * M_COUNT);
        double ws[3] = {0, 0, 0}; /* checksum, header, payload medians on rank 0 / max over ranks */
        buf = aligned_alloc(64, (bytes + 63) / 64 * 64);
        dst = aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (!n || !buf || !dst || !t) {
            fprintf(stderr, "bench_bcast: cannot set up model %c\n", *p);
            rc = 1;
        } else {
            for (size_t i = 0; i < n; i++) buf[i] = mpi.rank == 0 ? (float)(i % 1000) * 1e-3f : 0.0f;
            memset(dst, 0, bytes);
            AfWeightsTiming wt = {0}, wsum = {0};
            for (int k = 0; k < M_COUNT; k++) run_once(k, mpi.rank, &cm, buf, dst, n, 0, &wo, &wt); /* warm-up */
            for (int r = 0; r < reps && rc == 0; r++)
                for (int k = 0; k < M_COUNT && rc == 0; k++) {
                    double dt = run_once(k, mpi.rank, &cm, buf, dst, n, (uint64_t)r + 1, &wo, &wt), mx = 0;
                    int bad = dt < 0, anybad = 0;
                    MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
                    if (anybad) {
                        rc = 1;
                        break;
                    }
                    MPI_Reduce(&dt, &mx, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
                    t[(size_t)k * (size_t)reps + (size_t)r] = mx;
                    if (k == M_WEIGHTS) {
                        double mine[3] = {wt.checksum_s, wt.header_s, wt.payload_s}, top[3];
                        MPI_Reduce(mine, top, 3, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
                        wsum.checksum_s += top[0], wsum.header_s += top[1], wsum.payload_s += top[2];
                    }
                }
            ws[0] = wsum.checksum_s / reps, ws[1] = wsum.header_s / reps, ws[2] = wsum.payload_s / reps;
            if (rc == 0) { /* every receiver must hold the root's bytes */
                int bad = 0, anybad = 0;
                for (size_t i = 0; i < n && !bad; i++) bad = buf[i] != (float)(i % 1000) * 1e-3f;
                MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
                if (anybad) {
                    if (mpi.rank == 0) fprintf(stderr, "bench_bcast: a receiver's buffer differs from the root's\n");
                    rc = 1;
                }
            }
            if (rc == 0 && mpi.rank == 0) {
                double med[M_COUNT], mn[M_COUNT], mxs[M_COUNT];
                for (int k = 0; k < M_COUNT; k++) {
                    double *v = t + (size_t)k * (size_t)reps;
                    med[k] = af_bench_median(v, reps); /* sorts v */
                    mn[k] = v[0], mxs[k] = v[reps - 1];
                }
                printf("model %c: %zu params, %.1f MB, %d ranks, %d reps (chunk %zu elems, depth %d; shm pieces %zu "
                       "elems, %d slots, %d simulated nodes; publish transport %s)\n",
                       *p, n, bytes / 1e6, mpi.size, reps,
                       wo.chunk_elems ? wo.chunk_elems : AF_WEIGHTS_DEFAULT_CHUNK_ELEMS,
                       wo.depth ? wo.depth : AF_WEIGHTS_DEFAULT_DEPTH,
                       so.slot_elems ? so.slot_elems : AF_WEIGHTS_SHM_DEFAULT_SLOT_ELEMS,
                       so.slots ? so.slots : AF_WEIGHTS_SHM_DEFAULT_SLOTS, so.split_nodes,
                       chosen == AF_WEIGHTS_TRANSPORT_SHM ? "shm" : "bcast");
                for (int k = 0; k < M_COUNT; k++) {
                    printf("  %-11s median %8.3f ms (min %8.3f, max %8.3f)  %6.2f GB/s  %5.2fx memcpy  %5.2fx MPI_Bcast\n",
                           method_name[k], med[k] * 1e3, mn[k] * 1e3, mxs[k] * 1e3, bytes / med[k] / 1e9,
                           med[k] / med[M_MEMCPY], med[k] / med[M_MPI_BCAST]);
                    if (csv)
                        fprintf(csv, "%c,%zu,%zu,%d,%s,%zu,%d,%d,%.6f,%.6f,%.6f,%.3f,%.3f,%.3f\n", *p, n, bytes, mpi.size,
                                method_name[k], wo.chunk_elems ? wo.chunk_elems : AF_WEIGHTS_DEFAULT_CHUNK_ELEMS,
                                wo.depth ? wo.depth : AF_WEIGHTS_DEFAULT_DEPTH, reps, mn[k], med[k], mxs[k],
                                bytes / med[k] / 1e9, med[k] / med[M_MEMCPY], med[k] / med[M_MPI_BCAST]);
                }
                printf("  weights split (mean over reps, max over ranks): root checksum %.3f ms, header %.3f ms, "
                       "payload %.3f ms\n",
                       ws[0] * 1e3, ws[1] * 1e3, ws[2] * 1e3);
            }
        }
        free(buf), free(dst), free(t);
    }
    if (csv) fclose(csv);
    MPI_Comm_free(&cm.plain);
    MPI_Comm_free(&cm.shm);
    MPI_Comm_free(&cm.pub);
    af_mpi_finalize(&mpi);
    return rc;
}
