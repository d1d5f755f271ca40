/*
 * loop: one run of the agent on a conversation a runner has claimed. Rebuilds the chat
 * from the stored events, starts the sandbox, then repeats: ask the model → run its tool
 * calls in the sandbox → store each action and observation as events — until the model
 * finishes, asks the user something, fails, reaches max_iterations, or the run is
 * cancelled (stop, delete, a lost lease, shutdown). Status and agent_state change in the
 * same transaction as the event that causes them; at the end the sandbox is released and
 * the conversation is STOPPED (its slot freed).
 */
#ifndef CH_LOOP_H
#define CH_LOOP_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/app.h"
#include "sandbox/sandbox.h"

enum run_cancel {
    RUN_GOING = 0,
    RUN_STOPPED,  /* stopped or deleted by the user, or the lease was lost: write nothing more */
    RUN_SHUTDOWN, /* the server is stopping: hand the conversation back to the queue */
};

struct agent_run {
    struct app *app;
    struct conversation conv; /* as claimed (owned) */
    char runner[64];          /* the claim's owner */
    atomic_int cancel;        /* enum run_cancel */
    pthread_mutex_t mu;       /* guards `sandbox` for agent_run_cancel */
    struct sandbox *sandbox;  /* while one is running */
    int64_t renewed_at;       /* the claim or the last renewal of its lease (runner.c) */
};

/* Runs to the end; never fails (every ending is written to the conversation). */
void agent_run(struct agent_run *r);
/* From any thread: stop the run as soon as possible, killing its sandbox now. */
void agent_run_cancel(struct agent_run *r, enum run_cancel why);

#endif
