/*
 * prompt: what the model is told — the system prompt (in our own words) and the tool
 * definitions, whose names and parameters are exactly those of OpenHands' CodeActAgent
 * (execute_bash, str_replace_editor, think, finish), so models that know them work.
 */
#ifndef CH_PROMPT_H
#define CH_PROMPT_H

#include <jansson.h>

#include "util/buf.h"

/* The tools in OpenAI's shape ([{"type": "function", "function": {...}}]). A new reference. */
json_t *agent_tools(void);
/* The system prompt. `instructions` (the conversation's conversation_instructions, or repository
 * instructions) may be NULL. */
void agent_system_prompt(struct buf *out, const char *workspace, const char *instructions);

#endif
