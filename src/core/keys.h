/*
 * keys: API keys. A key is "oh_" followed by 64 lowercase hex characters (32 random
 * bytes); the prefix lets secret scanners recognise a leaked key. The server keeps only
 * a keyed BLAKE2b hash of each key (keyed with the server secret), so a stolen database
 * reveals no usable key. A key is shown once, when it is created.
 */
#ifndef CH_KEYS_H
#define CH_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/app.h"

#define API_KEY_PREFIX   "oh_"
#define API_KEY_LEN      67 /* "oh_" + 64 hex */
#define API_KEY_NAME_MAX 100

void api_key_generate(char out[API_KEY_LEN + 1]);
bool api_key_well_formed(const char *key);
void api_key_hash(const struct app *app, const char *key, char out[KEYED_HASH_HEX]);

/* Validates name (1..API_KEY_NAME_MAX characters) and expires_at (0, or in the future),
 * then creates a key for the account. Fills *out (free with api_key_free) and the key
 * itself into key_out, which the caller shows once and wipes. */
int keys_create(struct app *app, int64_t account_id, const char *name, int64_t expires_at,
                struct api_key *out, char key_out[API_KEY_LEN + 1], struct error *err);

#endif
