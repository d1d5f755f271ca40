/*
 * accounts: the people (or teams) that own keys and conversations. The first start of a
 * server with an empty database creates the administrator account "admin" with one API
 * key and a password for the web UI, so that a new installation can be used at once.
 */
#ifndef CH_ACCOUNTS_H
#define CH_ACCOUNTS_H

#include <stdbool.h>

#include "core/app.h"
#include "core/keys.h"

#define ACCOUNT_NAME_MAX  64
#define BOOTSTRAP_ACCOUNT "admin"

/* Names are 1..64 characters of letters, digits, '-', '_', '.' and '@', not starting with
 * '-' (so they never look like an option). */
bool account_name_valid(const char *name);
/* Creates an account; ERR_CONFLICT when the name is taken. max_concurrent 0 = server default. */
int accounts_create(struct app *app, const char *name, bool is_admin, int max_concurrent,
                    int64_t *id, struct error *err);
#define BOOTSTRAP_PASSWORD_LEN 20

/* On an empty database: creates "admin" with a key named "initial key" and a random password
 * for the web UI, writes both out and returns 1. Returns 0 when accounts exist already (nothing
 * done), or an error. */
int accounts_bootstrap(struct app *app, char key_out[API_KEY_LEN + 1],
                       char password_out[BOOTSTRAP_PASSWORD_LEN + 1], struct error *err);

#endif
