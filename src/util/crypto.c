/* crypto: libsodium-backed randomness, ids, keyed hashes and the server secret; see crypto.h. */
#include "util/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fs.h"

int crypto_init(void)
{
    return sodium_init() < 0 ? ERR_INTERNAL : 0;
}

void crypto_random(void *out, size_t len)
{
    randombytes_buf(out, len);
}

void crypto_hex(const void *in, size_t len, char *out)
{
    sodium_bin2hex(out, len * 2 + 1, in, len);
}

void crypto_uuid_hex(char out[CONVERSATION_ID_LEN + 1])
{
    uint8_t b[16];
    randombytes_buf(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    crypto_hex(b, sizeof(b), out);
}

void crypto_keyed_hash_hex(const uint8_t secret[SERVER_SECRET_LEN], const void *data, size_t len,
                           char out[KEYED_HASH_HEX])
{
    uint8_t h[KEYED_HASH_LEN];
    crypto_generichash(h, sizeof(h), data, len, secret, SERVER_SECRET_LEN);
    crypto_hex(h, sizeof(h), out);
}

void crypto_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                            char out[HMAC_SHA256_HEX])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, data, len);
    crypto_auth_hmacsha256_final(&st, mac);
    crypto_hex(mac, sizeof(mac), out);
    sodium_memzero(&st, sizeof(st));
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
}

void crypto_wipe(void *p, size_t len)
{
    sodium_memzero(p, len);
}

#define SEAL_PREFIX "v1:"

/* The key for stored credentials: a subkey of the server secret, so the hashing key and the
 * encryption key are never the same bytes. */
static void seal_key(const uint8_t secret[SERVER_SECRET_LEN],
                     uint8_t key[crypto_secretbox_KEYBYTES])
{
    crypto_kdf_derive_from_key(key, crypto_secretbox_KEYBYTES, 1, "chsecret", secret);
}

char *crypto_seal(const uint8_t secret[SERVER_SECRET_LEN], const char *plaintext)
{
    uint8_t key[crypto_secretbox_KEYBYTES];
    size_t mlen = strlen(plaintext),
           blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + mlen;
    uint8_t *box = xmalloc(blen);
    seal_key(secret, key);
    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const uint8_t *)plaintext, mlen, box,
                          key);
    size_t b64len = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL);
    char *out = xmalloc(strlen(SEAL_PREFIX) + b64len);
    strcpy(out, SEAL_PREFIX);
    sodium_bin2base64(out + strlen(SEAL_PREFIX), b64len, box, blen, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(key, sizeof(key));
    free(box);
    return out;
}

char *crypto_open(const uint8_t secret[SERVER_SECRET_LEN], const char *sealed)
{
    uint8_t key[crypto_secretbox_KEYBYTES];
    size_t blen;
    if (!sealed || strncmp(sealed, SEAL_PREFIX, strlen(SEAL_PREFIX)) != 0) return NULL;
    sealed += strlen(SEAL_PREFIX);
    size_t cap = strlen(sealed);
    uint8_t *box = xmalloc(cap + 1);
    if (sodium_base642bin(box, cap, sealed, strlen(sealed), NULL, &blen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        blen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
        free(box);
        return NULL;
    }
    size_t mlen = blen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    char *out = xmalloc(mlen + 1);
    seal_key(secret, key);
    int rc = crypto_secretbox_open_easy((uint8_t *)out, box + crypto_secretbox_NONCEBYTES,
                                        blen - crypto_secretbox_NONCEBYTES, box, key);
    sodium_memzero(key, sizeof(key));
    free(box);
    if (rc != 0) {
        free(out);
        return NULL;
    }
    out[mlen] = '\0';
    return out;
}

static int read_secret(const char *path, uint8_t out[SERVER_SECRET_LEN], struct error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size != SERVER_SECRET_LEN) {
        close(fd);
        return error_set(err, ERR_INTERNAL,
                         "%s must hold exactly %d bytes; restore it from a backup (keys made with "
                         "another secret stop working)",
                         path, SERVER_SECRET_LEN);
    }
    if (st.st_mode & 077) {
        close(fd);
        return error_set(err, ERR_INTERNAL, "%s is readable by other users; run: chmod 600 %s",
                         path, path);
    }
    ssize_t n = read(fd, out, SERVER_SECRET_LEN);
    close(fd);
    if (n != SERVER_SECRET_LEN)
        return error_set(err, ERR_INTERNAL, "cannot read %s: %s", path, strerror(errno));
    return 0;
}

int crypto_load_server_secret(const char *data_dir, uint8_t out[SERVER_SECRET_LEN],
                              struct error *err)
{
    struct buf path = BUF_INIT;
    buf_addf(&path, "%s/secret.key", data_dir);
    int rc = read_secret(path.data, out, err);
    if (rc >= 0) goto done;

    /* Not there yet: when another process wins the race to create it, its secret is the one
     * everybody uses. */
    crypto_random(out, SERVER_SECRET_LEN);
    rc = fs_create_once(path.data, out, SERVER_SECRET_LEN, err);
    if (rc == 1) rc = read_secret(path.data, out, err);
done:
    buf_release(&path);
    return rc;
}

void crypto_base64(const void *in, size_t len, struct buf *out)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    buf_grow(out, n);
    sodium_bin2base64(out->data + out->len, n, in, len, sodium_base64_VARIANT_ORIGINAL);
    out->len += n - 1; /* without the NUL sodium wrote, which buf keeps after len anyway */
}

char *crypto_password_hash(const char *password)
{
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return NULL;
    return xstrdup(out);
}

bool crypto_password_verify(const char *hash, const char *password)
{
    return hash && crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}
