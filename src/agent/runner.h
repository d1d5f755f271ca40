/*
 * runner: the pool of runner threads in `cloudhands serve` (later `cloudhands worker`).
 * Each thread claims a waiting conversation from the store (an atomic claim with a lease:
 * the same mechanism serves remote workers on a shared database), runs the agent on it
 * (loop.c), and claims the next. A heartbeat thread renews the leases of running
 * conversations; a lost lease (the conversation was stopped, deleted or taken over)
 * cancels its run. A stop notification kills the conversation's sandbox at once.
 */
#ifndef CH_RUNNER_H
#define CH_RUNNER_H

#include "core/app.h"

struct runner_pool;

/* Starts `app->cfg.runners` threads (none when 0). */
int runner_pool_start(struct app *app, struct runner_pool **out, struct error *err);
/* Stops claiming, hands running conversations back to the queue (they resume on the next
 * start), and joins the threads. */
void runner_pool_stop(struct runner_pool *pool);

#endif
