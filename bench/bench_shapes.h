/* The benchmark models A and B (bench_model.c, bench_train_paired.c; bench_model_torch.py's
 * MODELS holds the same shapes for PyTorch): the model's configuration and the training
 * batch, n_seqs sequences of seq_len tokens. */
#ifndef AF_BENCH_SHAPES_H
#define AF_BENCH_SHAPES_H

#include "common/model.h"

typedef struct {
    AfModelConfig cfg;
    int n_seqs, seq_len;
} AfBenchShape;

/* Model A (3.5M parameters) or, for any other letter, B (27.8M). */
static inline AfBenchShape af_bench_shape(char which) {
    AfBenchShape b = {.cfg = af_model_config_default()};
    b.cfg.max_seq = 1024;
    if (which == 'A') {
        b.cfg.vocab_size = 512, b.cfg.d_model = 256, b.cfg.n_layers = 4, b.cfg.n_heads = 4;
        b.cfg.n_kv_heads = 4, b.cfg.d_ff = 704, b.n_seqs = 16, b.seq_len = 256;
    } else {
        b.cfg.vocab_size = 2048, b.cfg.d_model = 512, b.cfg.n_layers = 8, b.cfg.n_heads = 8;
        b.cfg.n_kv_heads = 8, b.cfg.d_ff = 1408, b.n_seqs = 8, b.seq_len = 512;
    }
    return b;
}

#endif
