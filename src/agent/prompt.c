/* prompt: the system prompt and the CodeActAgent tool definitions; see prompt.h. */
#include "agent/prompt.h"

static const char tools_json[] =
    "["
    "{\"type\":\"function\",\"function\":{\"name\":\"execute_bash\","
    "\"description\":\"Execute a bash command in the terminal. The shell is persistent: the "
    "working directory and environment carry over between calls.\\n* One command at a time; "
    "chain commands with && or ;.\\n* Long-running commands: run them in the background and "
    "redirect output to a file, e.g. `python3 app.py > server.log 2>&1 &`.\\n* If a command "
    "returns exit code -1 it is still running: send an empty command to see more output, send "
    "keys like C-c to interrupt it, or set is_input to true to write to it.\\n* Avoid commands "
    "that print huge output; output over 30000 characters is truncated.\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{"
    "\"command\":{\"type\":\"string\",\"description\":\"The bash command to execute. Can be "
    "empty to view more output of the running command when the previous exit code was -1. Can "
    "be C-c (Ctrl+C) to interrupt the running process.\"},"
    "\"is_input\":{\"type\":\"string\",\"description\":\"If true, the command is input for the "
    "running process instead of a new command. Default false.\",\"enum\":[\"true\",\"false\"]},"
    "\"timeout\":{\"type\":\"number\",\"description\":\"Optional hard timeout in seconds. "
    "Without it, a command that prints nothing new for a while returns what it printed so "
    "far.\"}},"
    "\"required\":[\"command\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"str_replace_editor\","
    "\"description\":\"View, create and edit files.\\n* State persists across calls.\\n* view "
    "shows a file with line numbers (like cat -n) or lists a directory two levels deep.\\n* "
    "create makes a new file; it refuses to overwrite one.\\n* str_replace replaces old_str, "
    "which must match exactly one place in the file, including whitespace; include enough "
    "context to make it unique.\\n* insert adds new_str after line insert_line.\\n* undo_edit "
    "reverts the last edit of the file.\\n* Paths are absolute, e.g. /workspace/file.py.\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{"
    "\"command\":{\"type\":\"string\",\"description\":\"The command to run.\","
    "\"enum\":[\"view\",\"create\",\"str_replace\",\"insert\",\"undo_edit\"]},"
    "\"path\":{\"type\":\"string\",\"description\":\"Absolute path to the file or directory.\"},"
    "\"file_text\":{\"type\":\"string\",\"description\":\"create: the content of the new "
    "file.\"},"
    "\"old_str\":{\"type\":\"string\",\"description\":\"str_replace: the exact text to "
    "replace.\"},"
    "\"new_str\":{\"type\":\"string\",\"description\":\"str_replace: the replacement; insert: "
    "the text to insert.\"},"
    "\"insert_line\":{\"type\":\"integer\",\"description\":\"insert: new_str goes after this "
    "line (0 = at the top).\"},"
    "\"view_range\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"description\":"
    "\"view of a file: [start, end] line numbers, 1-based; end -1 means to the end.\"}},"
    "\"required\":[\"command\",\"path\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"think\","
    "\"description\":\"Think something through: plan, weigh options, or reason about what "
    "you found. Nothing is run and nothing changes.\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"thought\":{\"type\":\"string\","
    "\"description\":\"The thought.\"}},\"required\":[\"thought\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"finish\","
    "\"description\":\"Finish the task when it is done, or when it cannot be done. The message "
    "is shown to the user: summarise what you did and what changed.\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"message\":{\"type\":\"string\","
    "\"description\":\"The final summary for the user.\"}},\"required\":[\"message\"]}}}"
    "]";

json_t *agent_tools(void)
{
    return json_loads(tools_json, 0, NULL);
}

void agent_system_prompt(struct buf *out, const char *workspace, const char *instructions)
{
    buf_addf(out,
             "You are a software engineer working on the user's task with the tools you have. "
             "You work in a Linux sandbox; the project is in %s, which is also the shell's "
             "working directory.\n\n"
             "How to work:\n"
             "1. Explore first: look at the files that matter before you change anything.\n"
             "2. Make focused changes with str_replace_editor; keep the project's style.\n"
             "3. Verify: run the code or its tests with execute_bash and read the results.\n"
             "4. When the task is done, call finish with a short summary of what you changed "
             "and why. If you need something from the user, say so in a plain message "
             "instead of calling a tool.\n\n"
             "Rules: one shell command per execute_bash call; absolute paths in the editor; "
             "do not make changes the task does not ask for; never print secrets.",
             workspace);
    if (instructions && *instructions)
        buf_addf(out, "\n\nInstructions for this task:\n%s", instructions);
}
