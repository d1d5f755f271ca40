/* stream: the server side of long-lived responses; see stream.c. Internal to http/. */
#ifndef CH_STREAM_H
#define CH_STREAM_H

#include "http/http.h"

struct MHD_Connection;
struct MHD_Response;

/* Starts the keep-alive ticker and the wake-up subscription; stream_stop ends all streams
 * (before the daemon stops). */
void stream_start(void);
void stream_stop(void);
/* A response that sends what `stream` produces; takes ownership of stream->ctx. */
struct MHD_Response *stream_response(struct MHD_Connection *conn, struct http_stream *stream);

#endif
