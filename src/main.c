/*
 * cloudhands: a self-hosted OpenHands Cloud. main() finds the subcommand in the table
 * (cli/commands.c) by its one or two words and hands the rest of argv to it.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *out)
{
    fputs("usage: cloudhands COMMAND [options]\n\n"
          "A self-hosted OpenHands Cloud: an HTTP API that starts AI coding agents.\n\n"
          "commands:\n",
          out);
    for (const struct cli_command *const *c = cli_commands; *c; c++)
        if (!(*c)->hidden) fprintf(out, "  %-14s %s\n", (*c)->name, (*c)->summary);
    fputs("\nRun 'cloudhands COMMAND --help' for a command's options; 'cloudhands --version'.\n"
          "Quick start: cloudhands serve   (then follow the printed curl command)\n",
          out);
}

/* Matches "word" or "word word2" against argv[1..2]; sets *words to how many it used. */
static const struct cli_command *find_command(int argc, char **argv, int *words)
{
    for (const struct cli_command *const *c = cli_commands; *c; c++) {
        const char *name = (*c)->name, *space = strchr(name, ' ');
        if (!space) {
            if (strcmp(name, argv[1]) == 0) {
                *words = 1;
                return *c;
            }
        } else if (argc > 2 && strlen(argv[1]) == (size_t)(space - name) &&
                   strncmp(name, argv[1], (size_t)(space - name)) == 0 &&
                   strcmp(space + 1, argv[2]) == 0) {
            *words = 2;
            return *c;
        }
    }
    return NULL;
}

/* "cloudhands user" alone, or with an unknown second word: list that group's commands. */
static bool group_usage(const char *group)
{
    bool any = false;
    size_t len = strlen(group);
    for (const struct cli_command *const *c = cli_commands; *c; c++) {
        if (strncmp((*c)->name, group, len) == 0 && (*c)->name[len] == ' ') {
            if (!any) fprintf(stderr, "usage: cloudhands %s SUBCOMMAND [options]\n\n", group);
            fprintf(stderr, "  %-14s %s\n", (*c)->name, (*c)->summary);
            any = true;
        }
    }
    return any;
}

int main(int argc, char **argv)
{
    int words;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("cloudhands %s\n", CH_VERSION);
        return 0;
    }
    const struct cli_command *cmd = find_command(argc, argv, &words);
    if (!cmd) {
        if (group_usage(argv[1])) return 2;
        fprintf(stderr, "cloudhands: unknown command \"%s\"\n\n", argv[1]);
        usage(stderr);
        return 2;
    }
    return cli_run(cmd, argc - 1 - words, argv + 1 + words);
}
