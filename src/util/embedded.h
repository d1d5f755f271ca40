/*
 * embedded: files compiled into the binary by cmake/embed.cmake (SQL migrations,
 * the web UI, the API reference). Each table is sorted by name and ends with a {NULL} row; the
 * data is followed by a NUL byte that `len` does not count, so text can be used as a
 * C string.
 */
#ifndef CH_EMBEDDED_H
#define CH_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
    const char *name; /* path relative to the embedded folder, e.g. "001_init.sql" */
    const unsigned char *data;
    size_t len;
};

/* The SQLite schema migrations, in version order. */
extern const struct embedded_file sqlite_migrations[];
/* The PostgreSQL schema migrations (store/postgres.c), in version order. */
extern const struct embedded_file postgres_migrations[];
/* The web UI: web/index.html and web/assets/... (names relative to web/). */
extern const struct embedded_file web_files[];
/* The API reference: openapi.json and the Swagger UI page's own files, swagger-ui/... (names
 * relative to src/api/). */
extern const struct embedded_file api_docs_files[];
/* The files of the npm package swagger-ui-dist that the page loads (swagger-ui-bundle.js, ...). */
extern const struct embedded_file swagger_ui_files[];

#endif
