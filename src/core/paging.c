/* paging: page_id tokens; see paging.h. */
#include "core/paging.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_TAG "p1:"

void paging_encode(int64_t seq, char out[PAGE_TOKEN_MAX])
{
    char raw[32];
    int n = snprintf(raw, sizeof(raw), TOKEN_TAG "%lld", (long long)seq);
    sodium_bin2base64(out, PAGE_TOKEN_MAX, (const unsigned char *)raw, (size_t)n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool paging_decode(const char *token, int64_t *seq)
{
    unsigned char raw[32];
    size_t len;
    if (!token || strlen(token) >= PAGE_TOKEN_MAX) return false;
    if (sodium_base642bin(raw, sizeof(raw) - 1, token, strlen(token), NULL, &len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return false;
    raw[len] = '\0';
    if (len <= strlen(TOKEN_TAG) || memcmp(raw, TOKEN_TAG, strlen(TOKEN_TAG)) != 0) return false;
    const char *digits = (const char *)raw + strlen(TOKEN_TAG);
    for (const char *p = digits; *p; p++)
        if (*p < '0' || *p > '9') return false;
    if (!*digits || strlen(digits) > 19) return false;
    errno = 0;
    long long v = strtoll(digits, NULL, 10);
    if (errno || v <= 0) return false;
    *seq = v;
    return true;
}
