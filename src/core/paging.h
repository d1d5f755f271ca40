/*
 * paging: the opaque `page_id` tokens of list endpoints. A token is the base64url
 * encoding of the last seen position ("seq"), so pages stay stable while new
 * conversations arrive (keyset paging, not offsets).
 */
#ifndef CH_PAGING_H
#define CH_PAGING_H

#include <stdbool.h>
#include <stdint.h>

#define PAGE_TOKEN_MAX 48

/* Writes the token for position `seq` (> 0) into out[PAGE_TOKEN_MAX]. */
void paging_encode(int64_t seq, char out[PAGE_TOKEN_MAX]);
/* Reads a token; false when it is not one this server made. */
bool paging_decode(const char *token, int64_t *seq);

#endif
