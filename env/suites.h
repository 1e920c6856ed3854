/* The built-in suites (constructors used by af_suite_create) and helpers they share.
 *
 * ---- game24 --------------------------------------------------------------------------
 * Question "a b c d" (four integers; generated: every multiset of 1..13 that can make 24,
 * 1362 of 1820, shuffled by the AF_RNG_ENV stream of the seed: test = 362, train = 1000).
 * Gold "". Tool: calculator. Action: "calculator EXPR" where EXPR (calc.h grammar, no
 * unary minus) may use the puzzle's numbers, each at most as often as given, written out
 * or as "$k" (the question's k-th number: a pointer, so a small planner need not copy
 * digits), and "#k", the value of turn k (an earlier successful calculator turn; it
 * expands to "(its expression)"). So a planner may submit a whole expression in one turn
 * ("calculator 8/(3-8/3)") or build it in steps ("calculator $3/$1", "calculator $2-#1",
 * "calculator $4/#2" for "3 3 8 8"). Numbers not given, or a bad reference ->
 * AF_TOOL_BAD_ACTION. The oracle plays from the current state (what is left, below): the
 * first solution in its search order.
 * A successful step's result also says what is left to combine (game24 and countdown):
 * "9, left: $3=3 $4=4 #1=9" = the numbers no successful turn has used yet and the results no
 * later turn has referenced yet; just the value when only this turn's result is left.
 * Verifier: stop once a successful turn's expanded expression uses exactly the four
 * numbers and equals 24 (or on "stop"). Generator: that expanded expression (else the
 * latest successful one). Judge: 1 iff the answer uses exactly the four numbers, no
 * unary minus, and equals 24 exactly.
 * Attempts (AfSuiteOptions.attempts = A > 1, game24 and countdown): a successful step
 * that leaves nothing but its own result, and that result is not the target, ends the
 * attempt; while attempts remain, the next begins with every number back, listed in
 * another order (attempt a rotates the question's order by a-1, and from attempt n+1
 * on also swaps the 2nd and 3rd), and the step's result says so: "27; attempt 2, left:
 * $2=7 $3=8 $4=8 $1=4". Turn numbers and "#k" keep counting across attempts. The
 * planner's prompt shows the memory from that turn on (view_start): the current
 * attempt, not the closed ones. The oracle plays the first solution in its search order
 * over the state as listed, so each attempt's canonical solution differs; the explorer
 * (warm start) may step into dead ends, which it plays out with explored steps. Each
 * turn records the try it belongs to (Turn.try_index), for the learner's last-try credit.
 * State view (AfSuiteOptions.state_view, game24 and countdown): the prompt shows the
 * memory from the last successful calculator turn on, the one whose result lists what is
 * left (and any failed turns after it), instead of the whole try: the state is all a step
 * needs, and prompts stay at about one memory line.
 * Random planner (random_action): by default one random expression over all the
 * question's numbers, whatever the memory; with AfSuiteOptions.random_steps
 * (suite.random_action = step, game24 and countdown) one uniformly drawn action of the
 * actions op's list for the state the memory leaves (a step, or "stop" alone where one
 * number is left): the steps the oracle takes, without its choice. The format-only warm
 * start (model.warmstart_planner = random) then demonstrates the step format, and
 * exploring turns (rollout.explore_random) take single steps from the planner's own state.
 *
 * ---- countdown (TinyZero-style) -------------------------------------------------------
 * Question "n1 n2 n3 [n4] -> target" (numbers 1..99; target 1..999, built from a random
 * expression over all the numbers with positive integer intermediates; test 300,
 * train 2000). JSONL may also give "n1 n2 n3" with the target as "answer". Gold = target.
 * Same action grammar, verifier, generator and judge as game24 with the target in
 * place of 24: every number exactly once.
 *
 * ---- arith ----------------------------------------------------------------------------
 * Multi-step word problems ("A farmer plants 12 rows of 37 trees and 9 rows of 45
 * trees. How many trees are there?"), every integer in the question used exactly once by
 * the solution; gold = the integer answer; generated items carry the oracle's plan.
 * Same action grammar (numbers = the integers in the question). Verifier: stop once a
 * successful turn's expanded expression uses every number of the question. Generator:
 * that turn's result (else the latest successful result). Judge: numeric equality.
 *
 * ---- multihop -------------------------------------------------------------------------
 * See env/world.h: a generated world stored in LMDB; tool "search NAME" returns the
 * facts of one entity ("Torgordra (city): country Wentoria"). Question "What is the R1
 * of the R2 of ... of the NAME?". NAME may be written out or as a reference: "$1" is the
 * question's entity, "#k RELATION" the entity that turn k's search result names under
 * RELATION ("search #1 birthplace"); a bad reference -> AF_TOOL_BAD_ACTION.
 */
#ifndef AF_ENV_SUITES_H
#define AF_ENV_SUITES_H

#include <stddef.h>
#include <stdint.h>

#include "env/suite.h"

typedef enum { AF_NUMBERS_GAME24 = 0, AF_NUMBERS_COUNTDOWN = 1, AF_NUMBERS_ARITH = 2 } AfNumbersKind;

int af_suite_numbers_create(AfNumbersKind kind, const AfSuiteOptions *opts, AfSuite **out);
int af_suite_multihop_create(const AfSuiteOptions *opts, AfSuite **out);

/* Internal helpers for suite implementations (suite.c). */
int af_suite_alloc(const char *name, const AfSuiteOps *ops, size_t n_tools, AfSuite **out);
int af_suite_load_splits(AfSuite *s, const AfSuiteOptions *o, AfItemCheck check, void *ctx);

/* A set of strings for de-duplicating generated questions. */
typedef struct AfStrSet AfStrSet;
int af_strset_create(size_t expected, AfStrSet **out);
void af_strset_destroy(AfStrSet *set);
/* 1 if added, 0 if already present, negative on AF_ENOMEM. */
int af_strset_add(AfStrSet *set, const char *s);

#endif
