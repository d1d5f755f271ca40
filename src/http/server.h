/*
 * server: the libmicrohttpd daemon. Accepts connections on an epoll thread pool,
 * collects request bodies (up to HTTP_MAX_BODY), routes each request through the
 * route table, authenticates it as the route row says, calls the handler and sends
 * the response. Nothing else in the program includes <microhttpd.h> but http/.
 */
#ifndef CH_SERVER_H
#define CH_SERVER_H

#include "core/app.h"

struct http_server;

/* Starts serving app on `listen` ("HOST:PORT", IPv4 or [IPv6]). `threads` 0 = cores.
 * workers_only: serve only the ROUTE_ON_WORKERS routes (`cloudhands worker --listen`). */
int http_server_start(struct app *app, const char *listen, int threads, bool workers_only,
                      struct http_server **out, struct error *err);
/* Stops accepting, finishes running requests, frees the server. */
void http_server_stop(struct http_server *srv);
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *srv);
/* The URL other nodes reach this server at, "http://HOST:PORT" (malloc'd): the listen address
 * with the bound port, and this machine's host name in place of a wildcard address. */
char *http_server_url(const struct http_server *srv, const char *listen);
/* Parses "HOST:PORT" / "[V6]:PORT" into host (malloc'd) and port; false when malformed. */
bool listen_parse(const char *listen, char **host, int *port);

#endif
