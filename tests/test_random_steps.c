/* The random planner's steps (suite.random_action = step, issue 18): game24 and countdown's
 * random planner draws one valid step of the state the memory leaves instead of a whole
 * random expression over the question's numbers.
 *
 *  1. Draws on hand-made states: game24 "1 2 3 4" fresh (36 steps) and after "$3-$2"
 *     (18 steps), 36,000 and 18,000 draws: every draw is one of the suite's listed steps
 *     (AfSuiteOps.actions, the list constrained decoding uses) and each step is drawn
 *     within 4 standard deviations of its uniform share; countdown "3 5 -> 9" after its
 *     last step missed: "stop" every time. With attempts (game24, 2 attempts), a memory
 *     that ended the first attempt: the draws are steps of the fresh state (every number
 *     back). The default (expression) gives whole expressions over every number, none a
 *     listed step.
 *  2. Hand-played episodes: the random planner's step executed by the suite's calculator
 *     turn after turn (memory grown by hand) is always an ok step until one number is
 *     left, then "stop"; on 100 countdown training questions, 60 episodes each, the count
 *     solved is within 4 standard deviations of its exact expectation (each question's
 *     probability computed over every listed step, recursively).
 *  3. The world: suite.random_action=step reaches the suite (AfSuite.random_steps), and
 *     training episodes with rollout.explore_random=1 on countdown explore every turn with
 *     one listed step (or "stop"), each executed without a bad action, the same bits when
 *     run again; the default keeps expressions. Refusals: arith and multihop (the world), an
 *     unknown choice (the configuration).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/planner_model.h"
#include "common/error.h"
#include "common/rng.h"
#include "env/suite.h"
#include "run/world.h"
#include "tests/test_util.h"
#include "tests/episode_runs.h"

static int count_ops(const char *a) {
    int k = 0;
    for (const char *p = a; *p; p++) k += strchr("+-*/", *p) != NULL;
    return k;
}

static AfSuite *make_suite(const char *name, int steps, uint32_t attempts) {
    AfSuiteOptions o;
    af_suite_options_default(&o);
    o.random_steps = steps;
    o.attempts = attempts;
    AfSuite *s = NULL;
    CHECK_MSG(af_suite_create(name, &o, &s) == 0, "%s", af_error_detail()); /* names the suite */
    return s;
}

/* Draws n random actions from (item, mem[0..nm)) and checks them against the list. */
static void check_draws(const AfSuite *s, const AfItem *it, const AfTurnRecord *mem, size_t nm, int n, size_t want,
                        const char *what) {
    char **acts = NULL;
    size_t na = 0;
    CHECK(s->ops->actions(s, it, mem, nm, &acts, &na) == 0);
    CHECK_MSG(na == want, "%s: %zu steps listed, %zu expected", what, na, want);
    if (!na) return;
    int *cnt = calloc(na, sizeof *cnt);
    AfRng rng;
    af_rng_init(&rng, 11, AF_RNG_SAMPLE, 0, 0, 0);
    int outside = 0;
    for (int i = 0; i < n && cnt; i++) {
        char *a = NULL;
        CHECK(s->ops->random_action(s, it, mem, nm, &rng, &a) == 0);
        size_t j = 0;
        while (a && j < na && strcmp(a, acts[j])) j++;
        if (!a || j == na) outside++;
        else cnt[j]++;
        free(a);
    }
    CHECK_MSG(outside == 0, "%s: %d draws outside the list", what, outside);
    const double p = 1.0 / (double)na, mean = n * p, sd = sqrt(n * p * (1 - p));
    double worst = 0;
    for (size_t j = 0; cnt && j < na; j++) worst = fmax(worst, fabs(cnt[j] - mean) / sd);
    fprintf(stderr, "%s: %d draws over %zu steps, worst %.2f sd from uniform\n", what, n, na, worst);
    CHECK_MSG(worst <= 4.0, "%s: a step %.2f sd from its uniform share", what, worst);
    free(cnt);
    af_suite_actions_free(acts, na);
}

static void test_draws(void) {
    AfSuite *g = make_suite("game24", 1, 1), *ge = make_suite("game24", 0, 1), *g2 = make_suite("game24", 1, 2),
            *cd = make_suite("countdown", 1, 1);
    if (!g || !ge || !g2 || !cd) goto out;
    CHECK_EQ_INT(g->random_steps, 1);
    CHECK_EQ_INT(ge->random_steps, 0);
    AfItem it = {.question = "1 2 3 4"};
    check_draws(g, &it, NULL, 0, 36000, 36, "game24 1 2 3 4");
    AfTurnRecord first = {0};
    CHECK(g->ops->execute(g, &it, NULL, 0, "calculator $3-$2", 1.0, &first) == 0);
    check_draws(g, &it, &first, 1, 18000, 18, "game24 after $3-$2");
    /* two attempts: $1+$2, #1+$3, #2+$4 = 10 ends the first; the draws are the fresh state's */
    AfTurnRecord tr[3] = {{0}};
    const char *play[3] = {"calculator $1+$2", "calculator #1+$3", "calculator #2+$4"};
    for (size_t t = 0; t < 3; t++) CHECK(g2->ops->execute(g2, &it, tr, t, play[t], 1.0, &tr[t]) == 0);
    CHECK_MSG(strstr(tr[2].result, "attempt 2") != NULL, "the third step ends the attempt: \"%s\"", tr[2].result);
    check_draws(g2, &it, tr, 3, 3600, 36, "game24 attempt 2");
    for (size_t t = 0; t < 3; t++) af_turn_record_clear(&tr[t]);
    /* countdown after a missed last step: "stop" */
    AfItem ci = {.question = "3 5 -> 9"};
    AfTurnRecord cr = {0};
    CHECK(cd->ops->execute(cd, &ci, NULL, 0, "calculator $1+$2", 1.0, &cr) == 0);
    AfRng rng;
    af_rng_init(&rng, 5, AF_RNG_SAMPLE, 0, 0, 0);
    int stops = 0;
    for (int i = 0; i < 100; i++) {
        char *a = NULL;
        CHECK(cd->ops->random_action(cd, &ci, &cr, 1, &rng, &a) == 0);
        stops += a && !strcmp(a, "stop");
        free(a);
    }
    CHECK_EQ_INT(stops, 100);
    af_turn_record_clear(&cr);
    /* the default: whole expressions over every number, none a listed step */
    char **acts = NULL;
    size_t na = 0;
    CHECK(ge->ops->actions(ge, &it, NULL, 0, &acts, &na) == 0);
    int whole = 0, listed = 0;
    for (int i = 0; i < 2000; i++) {
        char *a = NULL;
        CHECK(ge->ops->random_action(ge, &it, &first, 1, &rng, &a) == 0);
        if (!a) continue;
        whole += strstr(a, "$1") && strstr(a, "$2") && strstr(a, "$3") && strstr(a, "$4") && count_ops(a) == 3;
        for (size_t j = 0; j < na; j++) listed += !strcmp(a, acts[j]);
        free(a);
    }
    CHECK_MSG(whole == 2000 && listed == 0, "expression: %d of 2000 whole expressions, %d listed steps", whole, listed);
    af_suite_actions_free(acts, na);
    af_turn_record_clear(&first);
out:
    af_suite_destroy(g), af_suite_destroy(ge), af_suite_destroy(g2), af_suite_destroy(cd);
}

/* 1 if the generator's answer from mem[0..n) is judged correct. */
static int solved_by(const AfSuite *s, const AfItem *it, const AfTurnRecord *mem, size_t n) {
    char *ans = NULL;
    float r = 0;
    const int ok = n && !s->ops->generate(s, it, mem, n, &ans) && ans && !s->ops->judge(s, it, ans, &r) && r >= 1.0f;
    free(ans);
    return ok;
}

/* One hand-played episode of the random planner (at most max_turns turns): 1 if solved. */
static int play(const AfSuite *s, const AfItem *it, AfRng *rng, int max_turns, int *bad) {
    AfTurnRecord mem[8] = {{0}};
    size_t n = 0;
    int solved = 0;
    while ((int)n < max_turns && n < 8) {
        char *a = NULL;
        if (s->ops->random_action(s, it, mem, n, rng, &a) || !a) {
            (*bad)++;
            break;
        }
        if (!strcmp(a, "stop")) {
            free(a);
            break;
        }
        (*bad) += count_ops(a) != 1;
        if (s->ops->execute(s, it, mem, n, a, 1.0, &mem[n])) (*bad)++;
        free(a);
        (*bad) += mem[n].status != AF_TOOL_OK;
        n++;
        if ((solved = solved_by(s, it, mem, n))) break;
    }
    for (size_t t = 0; t < n; t++) af_turn_record_clear(&mem[t]);
    return solved;
}

/* The exact probability that the uniformly random step planner solves it from mem[0..n):
 * the mean over the listed steps of the probability after each ("stop" alone: 0). */
static double exact_p(const AfSuite *s, const AfItem *it, AfTurnRecord *mem, size_t n) {
    if (solved_by(s, it, mem, n)) return 1.0;
    char **acts = NULL;
    size_t na = 0;
    if (n >= 7 || s->ops->actions(s, it, mem, n, &acts, &na) || !na) return 0.0;
    double sum = 0;
    for (size_t j = 0; j < na; j++) {
        if (!strcmp(acts[j], "stop")) continue;
        memset(&mem[n], 0, sizeof mem[n]);
        if (!s->ops->execute(s, it, mem, n, acts[j], 1.0, &mem[n]) && mem[n].status == AF_TOOL_OK)
            sum += exact_p(s, it, mem, n + 1);
        af_turn_record_clear(&mem[n]);
    }
    af_suite_actions_free(acts, na);
    return sum / (double)na;
}

static void test_played(void) {
    AfSuite *cd = make_suite("countdown", 1, 1);
    if (!cd) return;
    const AfDataset *ds = af_suite_split(cd, AF_SPLIT_TRAIN);
    enum { Q = 100, PER = 60 };
    AfRng rng;
    af_rng_init(&rng, 9, AF_RNG_SAMPLE, 0, 0, 0);
    int bad = 0, won = 0;
    double mean = 0, var = 0;
    for (int q = 0; q < Q; q++) {
        const AfItem *it = &ds->items[(size_t)q % ds->n];
        AfTurnRecord mem[8];
        const double p = exact_p(cd, it, mem, 0);
        mean += PER * p, var += PER * p * (1 - p);
        for (int i = 0; i < PER; i++) won += play(cd, it, &rng, 8, &bad);
    }
    const double z = (won - mean) / sqrt(var);
    fprintf(stderr, "countdown, %d questions x %d episodes: solved %d, exact expectation %.1f (%.2f sd)\n", Q, PER, won,
            mean, z);
    CHECK_MSG(bad == 0, "%d bad steps among the random planner's", bad);
    CHECK_MSG(mean > 10 && fabs(z) <= 4.0, "solved %d, expected %.1f: %.2f sd", won, mean, z);
    af_suite_destroy(cd);
}

/* ------------------------------------------------------------------ 3: the world */

static void test_world(void) {
    const char *base[] = {"suite.name=countdown", "rollout.max_turns=4", "rollout.max_action_tokens=24",
                          "model.d_model=32", "model.n_layers=1", "model.n_heads=2", "model.n_kv_heads=1",
                          "model.d_ff=48", "run.seed=3", "rollout.explore_random=1", "suite.random_action=step"};
    const size_t nb = sizeof base / sizeof *base;
    for (int steps = 1; steps >= 0; steps--) {
        AfWorld *w = NULL;
        AfModel *m = NULL;
        AfPlanner *p = NULL;
        if (ep_world(base, steps ? nb : nb - 1, &w, &m)) {
            CHECK_MSG(0, "world: %s", af_error_detail());
            af_world_destroy(w);
            continue;
        }
        CHECK_EQ_INT(w->suite->random_steps, steps);
        const AfSampler smp = {.temperature = 1.0f, .top_p = 1.0f};
        CHECK(af_planner_model_create(m, &smp, &p) == 0);
        EpRuns r;
        if (p) {
            ep_run(w, p, 0, 1, 2, 0, 4, 8, &r);
            size_t single = 0, stops = 0, multi = 0;
            for (int i = 0; i < r.n; i++)
                for (size_t k = 0; r.t[i] && k < r.t[i]->n_turns; k++) {
                    const char *a = r.t[i]->turns[k]->action_text;
                    if (!strcmp(a, "stop")) stops++;
                    else if (count_ops(a) == 1) single++;
                    else multi++;
                }
            fprintf(stderr, "random_action %s: %zu turns, %zu explored, %zu single steps, %zu stop, %zu longer, %zu bad\n",
                    steps ? "step" : "expression", r.turns, r.explored, single, stops, multi, r.bad);
            CHECK_MSG(r.explored == r.turns && r.turns > 0, "%zu of %zu turns explored", r.explored, r.turns);
            if (steps)
                CHECK_MSG(multi == 0 && single > 0 && r.bad == stops, "step: %zu longer actions, %zu bad turns besides %zu stop",
                          multi, r.bad, stops);
            else
                CHECK_MSG(multi > 0 && single == 0, "expression: %zu single steps, %zu longer", single, multi);
            EpRuns again;
            ep_run(w, p, 0, 1, 2, 0, 4, 8, &again);
            CHECK_MSG(ep_first_diff(&r, &again) < 0, "the same episodes twice differ");
            ep_free(&again);
            ep_free(&r);
        }
        af_planner_destroy(p);
        af_model_destroy(m);
        af_world_destroy(w);
    }
    /* refusals: the suites without a list of steps */
    const char *names[] = {"suite.name=arith", "suite.name=multihop"};
    for (size_t i = 0; i < 2; i++) {
        AfConfig cfg;
        af_config_defaults(&cfg);
        CHECK(af_config_apply_set(&cfg, names[i]) == 0 && af_config_apply_set(&cfg, "suite.random_action=step") == 0);
        AfWorld *w = NULL;
        const int rc = af_world_create(&cfg, &w);
        CHECK_MSG(rc == AF_ECONFIG && strstr(af_error_detail(), "suite.random_action"), "%s: rc %d, \"%s\"", names[i], rc,
                  af_error_detail());
        af_world_destroy(w);
    }
    AfConfig cfg;
    af_config_defaults(&cfg);
    CHECK(af_config_apply_set(&cfg, "suite.random_action=walk") != 0);
}

int main(void) {
    test_draws();
    test_played();
    test_world();
    TEST_MAIN_END();
}
