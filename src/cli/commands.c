/* commands: the table of subcommands. Adding a command is adding its file and a row here. */
#include "cli/cli.h"

extern const struct cli_command cmd_serve, cmd_worker, cmd_user_add, cmd_user_passwd, cmd_user_list,
    cmd_key_create, cmd_key_list, cmd_key_revoke, cmd_node_list, cmd_sandbox_agent;
/* Clients of a running server (cli/client.h). */
extern const struct cli_command cmd_run, cmd_send, cmd_conversations, cmd_logs, cmd_stop;

const struct cli_command *const cli_commands[] = {
    &cmd_serve,         &cmd_worker,        &cmd_user_add, &cmd_user_passwd,
    &cmd_user_list,     &cmd_key_create,    &cmd_key_list, &cmd_key_revoke,
    &cmd_node_list,     &cmd_sandbox_agent, &cmd_run,      &cmd_send,
    &cmd_conversations, &cmd_logs,          &cmd_stop,     NULL,
};
