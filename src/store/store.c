/* store: opening a back end by URL and freeing the records it returns; see store.h. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

int store_open(const char *url, struct store **out, struct error *err)
{
    *out = NULL;
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return store_postgres_open(url, out, err);
    if (strncmp(url, "sqlite:", 7) == 0) url += 7;
    if (strncmp(url, "//", 2) == 0) url += 2; /* sqlite:///abs/path */
    if (!*url) return error_set(err, ERR_INTERNAL, "empty database path");
    return store_sqlite_open(url, out, err);
}

void store_close(struct store *s)
{
    if (s) s->ops->close(s);
}

void account_free(struct account *a)
{
    if (!a) return;
    free(a->name);
    memset(a, 0, sizeof(*a));
}

void account_list_free(struct account *a, size_t n)
{
    for (size_t i = 0; i < n; i++) account_free(&a[i]);
    free(a);
}

void api_key_free(struct api_key *k)
{
    if (!k) return;
    free(k->name);
    memset(k, 0, sizeof(*k));
}

void api_key_list_free(struct api_key *k, size_t n)
{
    for (size_t i = 0; i < n; i++) api_key_free(&k[i]);
    free(k);
}

void conversation_free(struct conversation *c)
{
    if (!c) return;
    char **strings[] = {&c->title,
                        &c->status,
                        &c->agent_state,
                        &c->trigger,
                        &c->selected_repository,
                        &c->selected_branch,
                        &c->git_provider,
                        &c->conversation_instructions,
                        &c->runtime_status,
                        &c->branch,
                        &c->error,
                        &c->pull_requests,
                        &c->metrics,
                        &c->node,
                        &c->base_commit};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) free(*strings[i]);
    memset(c, 0, sizeof(*c));
}

void node_free(struct node *n)
{
    if (!n) return;
    free(n->id);
    free(n->url);
    memset(n, 0, sizeof(*n));
}

void node_list_free(struct node *n, size_t count)
{
    for (size_t i = 0; i < count; i++) node_free(&n[i]);
    free(n);
}

void conversation_list_free(struct conversation *c, size_t n)
{
    for (size_t i = 0; i < n; i++) conversation_free(&c[i]);
    free(c);
}

void event_list_free(char **events, size_t n)
{
    for (size_t i = 0; i < n; i++) free(events[i]);
    free(events);
}

void secret_list_free(struct secret *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].name);
        free(s[i].description);
        free(s[i].value_sealed);
    }
    free(s);
}

void webhook_free(struct webhook *w)
{
    if (!w) return;
    free(w->url);
    free(w->events);
    free(w->description);
    free(w->secret_sealed);
    memset(w, 0, sizeof(*w));
}

void webhook_list_free(struct webhook *w, size_t n)
{
    for (size_t i = 0; i < n; i++) webhook_free(&w[i]);
    free(w);
}

void webhook_delivery_free(struct webhook_delivery *d)
{
    if (!d) return;
    char **strings[] = {&d->event, &d->conversation_id, &d->body, &d->status, &d->last_error,
                        &d->url,   &d->secret_sealed};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) free(*strings[i]);
    memset(d, 0, sizeof(*d));
}

void webhook_delivery_list_free(struct webhook_delivery *d, size_t n)
{
    for (size_t i = 0; i < n; i++) webhook_delivery_free(&d[i]);
    free(d);
}

bool conversation_status_is_active(const char *status)
{
    return status && (strcmp(status, CONV_STARTING) == 0 || strcmp(status, CONV_RUNNING) == 0);
}
