/*
 * editor: the `str_replace_editor` tool of OpenHands' CodeActAgent, with the exact
 * observation texts models were trained on (../shared/TOOLS.md): view (files with
 * numbered lines, directories two levels deep), create, str_replace, insert, undo_edit.
 *
 * It runs inside the conversation's sandbox (the sandbox agent process), on real paths;
 * `workspace` (normally "/workspace") is only used for the "Maybe you meant ..." hint.
 * One `struct editor` per conversation keeps the undo history (a stack of 10 per file).
 */
#ifndef CH_EDITOR_H
#define CH_EDITOR_H

#include <jansson.h>
#include <stdbool.h>

#include "util/buf.h"

struct editor;

struct editor_result {
    bool error;     /* the text is an error the model reads after "ERROR:\n" */
    char *path;     /* the path the call named (malloc'd, or NULL) */
    char *old_text; /* edits: the file before (malloc'd, or NULL) */
    char *new_text; /* edits: the file after (malloc'd, or NULL) */
    char *diff;     /* edits: a unified diff of the change (malloc'd, or NULL) */
    bool refused;   /* not run (bad tool call, or `view` of a binary file): OpenHands made it an
                       ErrorObservation, so the text is the message + "\n[Error occurred in
                       processing last action]" (already in `out`); error is set too */
};

struct editor *editor_new(const char *workspace);
void editor_free(struct editor *ed);
/* Runs one call. `args` is the tool call's arguments object (command, path, file_text, old_str,
 * new_str, insert_line, view_range; security_risk is accepted and ignored). Writes into `out`
 * exactly what the model reads as the tool result: the editor's output, or "ERROR:\n" + the
 * message (res->error set), or for a refused call the message + the suffix above. Edit results
 * are already cut to 30000 characters as OpenHands' conversation memory cuts them; `out` is
 * appended to. Free res with editor_result_free. */
void editor_run(struct editor *ed, json_t *args, struct buf *out, struct editor_result *res);
void editor_result_free(struct editor_result *res);

#endif
