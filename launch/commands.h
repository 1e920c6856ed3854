/* Subcommands of the agentflow program. Each takes the arguments after its name
 * (argv[0] is the subcommand name) and returns the process exit code:
 * 0 success, 1 runtime failure, 2 bad usage or bad configuration. */
#ifndef AF_LAUNCH_COMMANDS_H
#define AF_LAUNCH_COMMANDS_H

int af_cmd_train(int argc, char **argv);
int af_cmd_eval(int argc, char **argv);
int af_cmd_rollout(int argc, char **argv);
int af_cmd_score(int argc, char **argv);
int af_cmd_ckpt(int argc, char **argv);
int af_cmd_chat_template(int argc, char **argv);
int af_cmd_tokenize(int argc, char **argv);

#endif
