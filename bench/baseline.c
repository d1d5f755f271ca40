/* bench/baseline.c: the benchmark baseline. A minimal libmicrohttpd server configured like
 * cloudhands (epoll internal thread, a thread pool of one thread per core) that answers every
 * request with the same small JSON body. Whatever cloudhands costs above this is our own code:
 * routing, authentication, SQLite, JSON. See bench/README.md.
 *
 * Usage: baseline PORT      (listens on 127.0.0.1:PORT until SIGINT/SIGTERM)
 */
#define _POSIX_C_SOURCE 200809L
#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* About the size and shape of one conversation record as the API returns it. */
static const char BODY[] =
    "{\"conversation_id\":\"0b2f6c3e9a4d4f1e8c7b5a6d3e2f1a0b\",\"title\":\"bench task\","
    "\"status\":\"RUNNING\",\"selected_repository\":null,\"created_at\":\"2024-01-01T00:00:00Z\","
    "\"last_updated_at\":\"2024-01-01T00:00:00Z\",\"trigger\":\"gui\"}";

static struct MHD_Response *response;
static int first_call_marker;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    /* A response queued on the first call carries "Connection: close" in MHD 0.9.75, so, like
     * the real server, answer only once the request (and any body) has been read. */
    if (*con_cls == NULL) {
        *con_cls = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* discard a request body */
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, response);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    char *end = NULL;
    long port = strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "baseline: bad port '%s'\n", argv[1]);
        return 2;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) cores = 1;

    response =
        MHD_create_response_from_buffer(sizeof(BODY) - 1, (void *)BODY, MHD_RESPMEM_PERSISTENT);
    if (response == NULL ||
        MHD_add_response_header(response, "Content-Type", "application/json") != MHD_YES) {
        fprintf(stderr, "baseline: cannot create the response\n");
        return 1;
    }

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
                         NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cores, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "baseline: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!stop) pause();

    MHD_stop_daemon(d);
    MHD_destroy_response(response);
    return 0;
}
