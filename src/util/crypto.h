/*
 * crypto: the few primitives cloudhands needs, all from libsodium.
 * - random bytes and hex ids (conversation ids are uuid4-shaped 32 hex chars),
 * - the server secret (32 random bytes in DATA/secret.key, mode 0600) and keyed
 *   BLAKE2b hashing with it (API keys are stored only as such hashes),
 * - HMAC-SHA256 (webhook signatures),
 * - constant-time comparison.
 * crypto_init() must run once before anything else here.
 */
#ifndef CH_CRYPTO_H
#define CH_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

#define SERVER_SECRET_LEN   32
#define KEYED_HASH_LEN      32
#define KEYED_HASH_HEX      (KEYED_HASH_LEN * 2 + 1)
#define CONVERSATION_ID_LEN 32 /* hex chars, without the NUL */

int crypto_init(void);
void crypto_random(void *out, size_t len);
/* Lowercase hex of `len` bytes into out[2*len+1]. */
void crypto_hex(const void *in, size_t len, char *out);
/* Standard base64 (with padding) of `len` bytes, appended to out. */
void crypto_base64(const void *in, size_t len, struct buf *out);
/* A uuid4 (version and variant bits set) as 32 lowercase hex chars into out[33]. */
void crypto_uuid_hex(char out[CONVERSATION_ID_LEN + 1]);
/* Keyed BLAKE2b-256 of `data` with the server secret, as hex into out[KEYED_HASH_HEX]. */
void crypto_keyed_hash_hex(const uint8_t secret[SERVER_SECRET_LEN], const void *data, size_t len,
                           char out[KEYED_HASH_HEX]);
#define HMAC_SHA256_HEX 65 /* 64 hex chars + NUL */
/* HMAC-SHA256 of `data` with `key` (any length), as lowercase hex into out[HMAC_SHA256_HEX]:
 * webhook signatures. */
void crypto_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                            char out[HMAC_SHA256_HEX]);
bool crypto_equal(const void *a, const void *b, size_t len);
/* Overwrites memory that held a secret, in a way the compiler cannot drop. */
void crypto_wipe(void *p, size_t len);
/* Encrypts a stored credential (LLM key, provider token, secret value) with a key derived from
 * the server secret (XSalsa20-Poly1305). Returns "v1:" + base64(nonce || ciphertext),
 * malloc'd. */
char *crypto_seal(const uint8_t secret[SERVER_SECRET_LEN], const char *plaintext);
/* Decrypts what crypto_seal made; NULL when it was not made with this secret or was altered.
 * The result is malloc'd; wipe it (crypto_wipe) before freeing. */
char *crypto_open(const uint8_t secret[SERVER_SECRET_LEN], const char *sealed);
/* Passwords for the web UI: argon2id (libsodium's crypto_pwhash_str, interactive limits), as
 * a self-describing text. crypto_password_hash returns it malloc'd (NULL only when out of
 * memory for the hash); crypto_password_verify is constant-time in the password. */
char *crypto_password_hash(const char *password);
bool crypto_password_verify(const char *hash, const char *password);
/* Loads DIR/secret.key, creating it (0600, fresh random bytes) when it does not exist. Refuses
 * a file of the wrong size or one readable by others. */
int crypto_load_server_secret(const char *data_dir, uint8_t out[SERVER_SECRET_LEN],
                              struct error *err);

#endif
